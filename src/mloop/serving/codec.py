"""Request bodies into a table of rows: the JSON reader and MLflow's scoring formats.

A predict body is parsed once, with orjson, into a ``Table`` of plain columns (column -> list or
numpy array); the validator and the runner read that, so no request ever builds a DataFrame of
its own. The bodies accepted are the ones MLflow's scoring server accepts for a table: a JSON
object with exactly one of

- ``dataframe_split``: ``{"columns": [...], "data": [[...], ...]}`` (``index`` allowed, as
  ``DataFrame.to_json(orient="split")`` writes it, and read past);
- ``dataframe_records`` and ``instances``: a list of objects, one per row;
- ``inputs``: an object of column -> list of values (or, as MLflow also reads it, a list of objects).

Other top-level fields (MLflow's ``params``, anything else) are ignored and named in
``Table.ignored``, which the server echoes in a response header. The Open Inference Protocol (V2)
bodies are read by ``mloop.serving.v2`` into the same ``Table``.

JSON: orjson first; a body it refuses that holds the ``NaN``/``Infinity`` tokens Python's json
and pandas write is read again by Python's json, so those become floats and the column's rules
judge them. Anything unreadable, or nested past ``MAX_DEPTH``, is a 400 ``malformed_json``; a
well-formed body of the wrong shape is a 400 ``invalid_body``; a list or object where a single
value belongs is a 422 ``invalid_input``. Bodies are only ever parsed as JSON: nothing is unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from mloop.data.violations import FieldError
from mloop.serving.errors import ApiError, invalid_input

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MAX_DEPTH = 32
# Python's json turns an int of any length into an int; past this many digits it is read as a
# float (inf when huge), which the column's rules then judge, instead of an OverflowError later.
MAX_INT_DIGITS = 18
EXAMPLE = '{"dataframe_records": [{"column": value, ...}]}'

Column = list[Any] | np.ndarray


@dataclass
class Table:
    """Rows of a request as plain columns, each of length ``n_rows``.

    ``columns`` holds Python lists (JSON bodies) or numpy arrays (V2 binary tensors). A
    records body keeps its records, so validation sees a missing key as missing (``required``)
    rather than as ``null``. ``ignored`` names body fields that were read past.
    """

    columns: dict[str, Column]
    n_rows: int
    ignored: list[str] = field(default_factory=list)
    source: str = ""  # which body format: one of FORMATS, or "v2"
    rows: list[dict[str, Any]] | None = None

    def records(self) -> list[dict[str, Any]]:
        """The rows as JSON-like dicts, Python values only (what the row validator reads)."""
        if self.rows is None:
            plain = {
                name: values.tolist() if isinstance(values, np.ndarray) else values
                for name, values in self.columns.items()
            }
            names = list(plain)
            if names:
                self.rows = [
                    dict(zip(names, row, strict=True)) for row in zip(*plain.values(), strict=True)
                ]
            else:
                self.rows = [{} for _ in range(self.n_rows)]
        return self.rows


def malformed(message: str) -> ApiError:
    return ApiError(400, "malformed_json", message)


def invalid_body(message: str) -> ApiError:
    return ApiError(400, "invalid_body", message)


def _int(text: str) -> int | float:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else float(text)


def loads(body: bytes | memoryview, *, example: str = EXAMPLE) -> Any:
    """Parse JSON; raises ``ApiError`` 400 ``malformed_json`` (never anything else) when it cannot.

    ``example`` is the body the message suggests: the route's own shape.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        problem = str(exc)
    if "depth limit" in problem:
        raise malformed("The JSON body is nested too deeply to read; send a flat table.")
    raw = bytes(body)
    if b"NaN" in raw or b"Infinity" in raw or "infinity" in problem:
        try:  # the non-standard tokens Python's json and pandas write for NaN and ±inf
            return json.loads(raw, parse_int=_int)
        except RecursionError:
            raise malformed(
                "The JSON body is nested too deeply to read; send a flat table."
            ) from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
            problem = str(exc)
    raise malformed(
        f"The body is not valid JSON ({problem}); send a JSON object such as {example}."
    )


def check_depth(value: Any, *, limit: int = MAX_DEPTH, what: str = "the body") -> None:
    """Raise 400 ``malformed_json`` when ``value`` nests lists/objects deeper than ``limit``.

    Walked without recursion, and only over parts of the body the codec would otherwise not read
    (ignored fields, parameters): the parts it reads are checked by their shape.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise malformed(f"{what} is nested deeper than {limit} levels; send a flat table.")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _limit_rows(rows: int, max_rows: int | None) -> None:
    if max_rows is not None and rows > max_rows:
        raise ApiError(
            413,
            "too_many_rows",
            f"The body holds {rows} rows, more than this endpoint's limit of {max_rows}; "
            "send them in smaller requests (or use `mloop predict` for files).",
            {"rows": rows, "max_rows": max_rows},
        )


def check_scalars(columns: dict[str, Column]) -> None:
    """A list or object in a cell is a 422 naming it: a table holds one value per cell."""
    errors: list[FieldError] = []
    for name, values in columns.items():
        if isinstance(values, np.ndarray):
            continue
        for row, value in enumerate(values):
            if isinstance(value, list | dict):
                errors.append(
                    FieldError(
                        row + 1, name, "type", None, f"{_kind(value)} where a single value belongs"
                    )
                )
    if errors:
        raise invalid_input(errors, rows=max(len(v) for v in columns.values()))


def _column_names(names: Any) -> list[str]:
    if not isinstance(names, list):
        raise invalid_body(f'"columns" must be a list of column names; got {_kind(names)}.')
    out = []
    for name in names:
        if isinstance(name, bool) or not isinstance(name, str | int | float):
            raise invalid_body(f'"columns" must hold names (strings); got {_kind(name)}.')
        out.append(name if isinstance(name, str) else str(name))
    if len(set(out)) != len(out):
        repeated = sorted({n for n in out if out.count(n) > 1})
        raise invalid_body(f'"columns" names {", ".join(map(repr, repeated))} more than once.')
    return out


def from_split(value: Any, *, max_rows: int | None = None) -> Table:
    """``{"columns": [...], "data": [[...]]}`` (pandas' ``orient="split"``)."""
    if not isinstance(value, dict):
        raise invalid_body(
            f'"dataframe_split" must be an object with "columns" and "data"; got {_kind(value)}.'
        )
    if "columns" not in value or "data" not in value:
        absent = [k for k in ("columns", "data") if k not in value]
        raise invalid_body(f'"dataframe_split" has no {" or ".join(map(repr, absent))} field.')
    names = _column_names(value["columns"])
    data = value["data"]
    if not isinstance(data, list):
        raise invalid_body(f'"dataframe_split.data" must be a list of rows; got {_kind(data)}.')
    _limit_rows(len(data), max_rows)
    width = len(names)
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != width:
            got = f"{len(values)} values" if isinstance(values, list) else _kind(values)
            raise invalid_body(
                f"Row {row + 1} of dataframe_split.data has {got}; each row is a list of "
                f"{width} values, one per column."
            )
    columns: dict[str, Column] = (
        {n: list(c) for n, c in zip(names, zip(*data, strict=True), strict=True)}
        if data
        else {n: [] for n in names}
    )
    check_scalars(columns)
    index = value.get("index")
    if index is not None and (
        not isinstance(index, list)
        or len(index) != len(data)
        or any(isinstance(v, (dict, list)) for v in index)
    ):
        raise invalid_body(
            f'"dataframe_split.index" must be a list of {len(data)} labels, one per row, or '
            "left out (it is not used)."
        )
    extra = [f"dataframe_split.{k}" for k in value if k not in ("columns", "data", "index")]
    return Table(columns, len(data), extra, "dataframe_split")


def from_records(value: Any, *, key: str, max_rows: int | None = None) -> Table:
    """A list of objects, one per row (``dataframe_records``, ``instances``)."""
    if not isinstance(value, list):
        raise invalid_body(f'"{key}" must be a list of objects, one per row; got {_kind(value)}.')
    _limit_rows(len(value), max_rows)
    names: dict[str, None] = {}
    for row, record in enumerate(value):
        if not isinstance(record, dict):
            raise invalid_body(
                f'Row {row + 1} of "{key}" is {_kind(record)}; each row is an object such as '
                '{"column": value}.'
            )
        names.update(dict.fromkeys(record))
    columns: dict[str, Column] = {n: [r.get(n) for r in value] for n in names}
    check_scalars(columns)
    return Table(columns, len(value), [], key, value)


def from_columns(value: dict[str, Any], *, key: str, max_rows: int | None = None) -> Table:
    """An object of column -> list of values (``inputs``); all lists one length."""
    if not value:
        return Table({}, 0, [], key)
    lists = [isinstance(v, list) for v in value.values()]
    if not any(lists):  # every column a single value: one row
        columns: dict[str, Column] = {str(k): [v] for k, v in value.items()}
        check_scalars(columns)
        return Table(columns, 1, [], key)
    if not all(lists):
        single = next(k for k, v in value.items() if not isinstance(v, list))
        raise invalid_body(
            f'"{key}.{single}" is a single value while other columns are lists; send every '
            "column as a list of values, one per row."
        )
    lengths = {len(v) for v in value.values()}
    if len(lengths) > 1:
        shown = ", ".join(f"{k}: {len(v)}" for k, v in value.items())
        raise invalid_body(
            f'The columns of "{key}" differ in length ({shown}); give each one value per row.'
        )
    rows = lengths.pop()
    _limit_rows(rows, max_rows)
    columns = {str(k): v for k, v in value.items()}
    check_scalars(columns)
    return Table(columns, rows, [], key)


def parse_predict(body: bytes | memoryview, *, max_rows: int | None = None) -> Table:
    """A ``/predict`` body (one of MLflow's table formats) as a ``Table``; raises ``ApiError``."""
    doc = loads(body)
    if not isinstance(doc, dict):
        raise invalid_body(
            f"The body must be a JSON object with one of {', '.join(FORMATS)}; got {_kind(doc)}, "
            f"e.g. {EXAMPLE}."
        )
    present = [k for k in FORMATS if k in doc]
    if len(present) != 1:
        got = ", ".join(map(repr, doc)) or "none"
        which = "exactly one" if present else "one"
        raise invalid_body(
            f"The body must have {which} of the fields {', '.join(FORMATS)} (it has: {got}), "
            f"e.g. {EXAMPLE}."
        )
    key = present[0]
    ignored = [k for k in doc if k != key]
    for name in ignored:
        check_depth(doc[name], what=f'The field "{name}"')
    value = doc[key]
    if key == "dataframe_split":
        table = from_split(value, max_rows=max_rows)
    elif key == "inputs" and isinstance(value, dict):
        table = from_columns(value, key=key, max_rows=max_rows)
    else:
        table = from_records(value, key=key, max_rows=max_rows)
    table.ignored = ignored + table.ignored
    return table


def dumps(value: Any) -> bytes:
    """JSON bytes for a response: numpy values as numbers, NaN as ``null`` (valid JSON)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def ignored_header(names: Sequence[str]) -> str:
    """The value of the response header naming ignored fields and columns (comma-separated); an
    empty name shows as ``""`` (a bare one would leave the list ending in a space, which no HTTP
    header may)."""
    return ", ".join(name or '""' for name in dict.fromkeys(names))
