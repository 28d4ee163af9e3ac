"""Prediction records as Arrow: the fixed columns, flattened inputs and probabilities.

A record is the dict the server submits (see ``RECORD_KEYS``). On disk it is one row with:

- fixed, typed columns (``timestamp``, ``endpoint``, ``request_id``, ``prediction_id``,
  ``revision``, ``model``, ``version``, ``role``, ``routing_key``, ``status``, ``latency_ms``,
  ``error``) whose types never change;
- ``prediction`` typed as the model's labels or values are (string, int64, float64, bool);
- ``input.<column>`` per input column and ``proba.<class>`` per class, typed per column.

A request refused with a 4xx (bad input) keeps its inputs as JSON text in ``refused_inputs``
instead, so one garbage value cannot turn a feature column into text.

Inputs are flattened rather than stored as JSON text because monitoring reads feature columns over
windows of millions of rows: a typed Parquet column is read alone, compressed by type and summed
without parsing, where a JSON column costs a parse per row and reads every feature to get one.
A new set of columns or a changed type starts a new segment (an Arrow stream has one schema);
readers combine segments by column name (DuckDB ``union_by_name``). A value pyarrow cannot type
consistently in a batch (``[1, "a"]``) is stored as text, a nested one (a list, an object) as
JSON text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from mloop.errors import InvalidInput

INPUT_PREFIX = "input."
INPUTS_TEXT = "refused_inputs"  # JSON text of the inputs of a request refused with a 4xx
PROBA_PREFIX = "proba."
ROLES = ("primary", "canary", "shadow")
TIMESTAMP = pa.timestamp("us", tz="UTC")

# (record key, Arrow type): the columns every segment has, in this order.
FIXED_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("timestamp", TIMESTAMP),
    ("endpoint", pa.string()),
    ("request_id", pa.string()),
    ("prediction_id", pa.string()),
    ("revision", pa.int64()),
    ("model", pa.string()),
    ("version", pa.int64()),
    ("role", pa.string()),
    ("routing_key", pa.string()),
    ("status", pa.int32()),
    ("latency_ms", pa.float64()),
    ("error", pa.string()),
)
FIXED_NAMES = frozenset(name for name, _ in FIXED_COLUMNS)
RECORD_KEYS = FIXED_NAMES | {"inputs", "prediction", "probabilities"}


def check_records(records: Sequence[Mapping[str, Any]]) -> None:
    """Refuse keys the log does not know, so a typo in the caller fails loudly, not silently."""
    for record in records:
        if not isinstance(record, Mapping):
            raise InvalidInput(f"A prediction record must be a dict, not {type(record).__name__}.")
        if not RECORD_KEYS.issuperset(record):
            unknown = sorted(set(record) - RECORD_KEYS)
            raise InvalidInput(
                f"Prediction record has unknown keys {unknown}; known keys: {sorted(RECORD_KEYS)}."
            )
        role = record.get("role", "primary")
        if role not in ROLES:
            raise InvalidInput(f"Prediction record role {role!r} is not one of {list(ROLES)}.")


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(
        value, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    ).decode()


def _text(values: Iterable[Any]) -> pa.Array:
    """Text as itself, anything else as its JSON (``1``, ``true``, ``[1,2]``), as a cast would."""
    return pa.array([_as_text(v) for v in values], pa.string())


def infer_array(values: list[Any]) -> pa.Array:
    """One column's values as the narrowest flat Arrow type; mixed or nested values as JSON text."""
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return _text(values)
    kind = array.type
    if pa.types.is_timestamp(kind):
        return array.cast(TIMESTAMP) if kind.tz is not None else array.cast(pa.timestamp("us"))
    if (
        pa.types.is_null(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_date(kind)
    ):
        return array
    return _text(values)


_FIXED_STRUCT = pa.struct([pa.field(name, kind) for name, kind in FIXED_COLUMNS])


def _flat(array: pa.Array) -> bool:
    kind = array.type
    return not (pa.types.is_nested(kind) or pa.types.is_timestamp(kind) or pa.types.is_binary(kind))


def _columns(rows: list[Mapping[str, Any]], prefix: str) -> list[tuple[str, pa.Array]]:
    """Dicts of column → value as one typed array per column.

    Arrow converts the dicts in C++ (a struct array, keys united across rows, then split), about
    five times faster than a Python pass per column; a batch that does not convert that way
    (mixed types in a column, nested values, keys that are not text) takes the column-by-column
    path, which types each column on its own.
    """
    if not any(rows):
        return []
    try:
        struct = pa.array(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        struct = None
    if struct is not None and pa.types.is_struct(struct.type):
        children = struct.flatten()
        if all(_flat(child) for child in children):
            return [
                (prefix + field.name, child)
                for field, child in zip(struct.type, children, strict=True)
            ]
    keys = dict.fromkeys(key for row in rows for key in row)
    return [(prefix + str(key), infer_array([row.get(key) for row in rows])) for key in keys]


def build_batch(records: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
    """Records (the dicts ``submit`` takes) as one columnar batch, converted column-wise by Arrow."""
    fixed = pa.array(records, type=_FIXED_STRUCT).flatten()  # picks the fixed keys, ignores others
    names = [name for name, _ in FIXED_COLUMNS]
    at = names.index("timestamp")
    if fixed[at].null_count:
        fixed[at] = pc.fill_null(fixed[at], pa.scalar(dt.datetime.now(dt.UTC), TIMESTAMP))
    role = names.index("role")
    if fixed[role].null_count:
        fixed[role] = pc.fill_null(fixed[role], "primary")
    arrays = [*fixed, infer_array([r.get("prediction") for r in records])]
    names.append("prediction")
    empty: dict[str, Any] = {}
    inputs = [r.get("inputs") or empty for r in records]
    status = fixed[names.index("status")]
    refused = pc.fill_null(pc.and_(pc.greater_equal(status, 400), pc.less(status, 500)), False)
    if pc.any(refused).as_py():
        # Inputs a request was refused for (422: a wrong type, a missing field) are not features
        # any model saw: typed columns would turn text for every window that holds one garbage
        # value, so they are kept whole as JSON text instead.
        flags = refused.to_pylist()
        names.append(INPUTS_TEXT)
        arrays.append(
            _text([row if flag else None for row, flag in zip(inputs, flags, strict=True)])
        )
        inputs = [empty if flag else row for row, flag in zip(inputs, flags, strict=True)]
    for name, array in _columns(inputs, INPUT_PREFIX):
        names.append(name)
        arrays.append(array)
    for name, array in _columns([r.get("probabilities") or empty for r in records], PROBA_PREFIX):
        names.append(name)
        arrays.append(array if array.type == pa.float64() else pc.cast(array, pa.float64()))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _fits(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether a batch column of ``source`` type can be written into a ``target`` column losslessly."""
    if source == target or pa.types.is_null(source):
        return True
    if pa.types.is_integer(source) and pa.types.is_floating(target):
        return True
    return bool(pa.types.is_integer(source) and target == pa.int64())


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch | None:
    """``batch`` in ``schema`` (missing columns as nulls, ints widened), or None when it does not fit.

    A batch fits when every column it has exists in ``schema`` with a type it casts to losslessly;
    then the active segment keeps going instead of starting a new one for a missing optional field.
    """
    if batch.schema.equals(schema):
        return batch
    present = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
    for name, array in present.items():
        index = schema.get_field_index(name)
        if index < 0 or not _fits(array.type, schema.field(index).type):
            return None
    arrays = []
    for field in schema:
        array = present.get(field.name)
        if array is None:
            arrays.append(pa.nulls(batch.num_rows, field.type))
        elif array.type != field.type:
            arrays.append(pc.cast(array, field.type))
        else:
            arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def widen(old: pa.Schema | None, batch: pa.Schema) -> pa.Schema:
    """The schema for a new segment: the batch's columns plus the old segment's others.

    Keeping the old columns means a request without an optional field later does not start
    yet another segment; the batch's types win where they differ.
    """
    if old is None:
        return batch
    fields = list(batch)
    names = set(batch.names)
    fields += [f for f in old if f.name not in names and not pa.types.is_null(f.type)]
    return pa.schema(fields)


def unify_tables(tables: list[pa.Table]) -> pa.Table:
    """Concatenate tables by column name; types widen where they can, else become JSON-ish text."""
    if not tables:
        return empty_table()
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    kinds: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for field in table.schema:
            kinds.setdefault(field.name, set()).add(field.type)
    clashing = {
        name
        for name, seen in kinds.items()
        if len({k for k in seen if not pa.types.is_null(k)}) > 1
    }
    fixed = []
    for table in tables:
        for name in clashing & set(table.column_names):
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, pc.cast(table.column(index), pa.string()))
        fixed.append(table)
    return pa.concat_tables(fixed, promote_options="permissive")


def empty_table() -> pa.Table:
    """A log with no rows: the fixed columns and ``prediction``, for an empty answer."""
    fields = [pa.field(name, kind) for name, kind in FIXED_COLUMNS]
    fields.append(pa.field("prediction", pa.null()))
    return pa.schema(fields).empty_table()


def nested(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row (flat columns) back in the shape it was submitted: ``inputs`` and
    ``probabilities`` as dicts of their non-null values."""
    out: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    probabilities: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith(INPUT_PREFIX):
            if value is not None:
                inputs[key[len(INPUT_PREFIX) :]] = value
        elif key == INPUTS_TEXT:
            if value is not None:
                inputs.update(orjson.loads(value))
        elif key.startswith(PROBA_PREFIX):
            if value is not None:
                probabilities[key[len(PROBA_PREFIX) :]] = value
        else:
            out[key] = value
    out["inputs"] = inputs
    out["probabilities"] = probabilities or None
    return out
