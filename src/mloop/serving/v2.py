"""The Open Inference Protocol (KServe V2) ``infer`` request and response, JSON and binary.

A request carries one named tensor per column, shape ``[n]`` or ``[n, 1]``; its data is either a
JSON list or, with the binary tensor data extension, raw bytes after the JSON header (the
``Inference-Header-Content-Length`` request header gives the header's length, each input's
``parameters.binary_data_size`` its share of the bytes, in input order). Binary data is
little-endian, row-major; a BOOL is one byte; each BYTES element is a 4-byte little-endian length
then its bytes. ``tritonclient.http`` sends binary inputs and asks for binary outputs
(``binary_data_output``, or ``binary_data`` per output) by default; both are read and answered.

Outputs: ``predict`` (the labels: BOOL, INT64, FP64 or BYTES, shape ``[n]``) and, for classifiers,
``predict_proba`` (FP64, shape ``[n, k]``, columns in the order of the model metadata's classes).
V2 has no per-row error, so a row that could not be scored gets a placeholder label (false, 0,
NaN or "") and the response gains a BYTES ``error`` output, empty for the rows that were scored.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mloop.serving.codec import Table, check_depth, check_scalars, dumps, invalid_body, loads
from mloop.serving.codec import _limit_rows as limit_rows
from mloop.serving.scores import Scores

HEADER = "Inference-Header-Content-Length"
BINARY_CONTENT_TYPE = "application/octet-stream"
EXAMPLE = '{"inputs": [{"name": "column", "shape": [1], "datatype": "FP64", "data": [value]}]}'
DATATYPES: dict[str, np.dtype[Any] | None] = {
    "BOOL": np.dtype("u1"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": None,
}
REQUEST_FIELDS = ("id", "parameters", "inputs", "outputs")
PREDICT, PROBA, ERROR = "predict", "predict_proba", "error"


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool | None  # None: the request's default


@dataclass
class InferRequest:
    table: Table
    id: str | None = None
    outputs: list[RequestedOutput] | None = None  # None: every output
    binary_output: bool = False  # parameters.binary_data_output
    parameters: dict[str, Any] = field(default_factory=dict)

    def check_outputs(self, available: list[str]) -> None:
        """400 for a requested output the model does not have (call before scoring)."""
        for output in self.outputs or []:
            if output.name not in available:
                raise invalid_body(
                    f"This model has no output {output.name!r}; it answers {', '.join(available)}."
                )


def header_length(value: str | None) -> int | None:
    """The ``Inference-Header-Content-Length`` header as a number; 400 when it is not one."""
    if value is None:
        return None
    try:
        length = int(value.strip())
    except ValueError:
        length = -1
    if length < 0:
        raise invalid_body(f"{HEADER} must be a byte count; got {value!r}.")
    return length


def _check_range(name: str, datatype: str, data: list[Any]) -> None:
    """A JSON number the declared datatype cannot hold (1000 as INT8, -1 as UINT8, 1e10 as FP16)
    is refused, as a binary tensor could not carry it."""
    bad: Any = None
    if datatype.startswith(("INT", "UINT")):
        info = np.iinfo(datatype.lower())
        span = f"{info.min} to {info.max}"
        bad = next((v for v in data if not info.min <= v <= info.max), None)
    elif datatype in ("FP16", "FP32"):
        top = float(np.finfo(datatype.replace("FP", "float").lower()).max)
        span = f"{-top:g} to {top:g}"
        bad = next((v for v in data if v is not None and math.isfinite(v) and abs(v) > top), None)
    if bad is not None:
        raise invalid_body(
            f"Input {name!r}: {bad!r} does not fit its datatype {datatype} ({span}); "
            "declare a wider datatype or send values in range."
        )


def _json_values(name: str, datatype: str, data: Any, rows: int) -> list[Any]:
    """A tensor's JSON ``data`` flattened to one value per row, checked against its datatype."""
    if not isinstance(data, list):
        raise invalid_body(f"Input {name!r}: data must be a list of values.")
    if data and all(isinstance(v, list) for v in data):  # [[v], [v], ...] for shape [n, 1]
        if any(len(v) != 1 for v in data):
            raise invalid_body(f"Input {name!r}: each row holds one value (shape [n] or [n, 1]).")
        data = [v[0] for v in data]
    if len(data) != rows:
        raise invalid_body(f"Input {name!r}: shape says {rows} values, data holds {len(data)}.")
    if datatype == "BOOL":
        ok = all(type(v) is bool for v in data)
    elif datatype.startswith(("INT", "UINT")):
        ok = all(type(v) is int for v in data)
    elif datatype.startswith("FP"):
        ok = all(v is None or type(v) in (int, float) for v in data)
    else:  # BYTES: text (missing as null)
        ok = all(v is None or type(v) is str for v in data)
    if not ok:
        check_scalars({name: data})
        raise invalid_body(f"Input {name!r}: data does not match its datatype {datatype}.")
    _check_range(name, datatype, data)
    values: list[Any] = data
    return values


def _bytes_values(name: str, chunk: memoryview, rows: int) -> list[str]:
    values: list[str] = []
    position, end = 0, len(chunk)
    unpack = struct.Struct("<I").unpack_from
    while position < end:
        if position + 4 > end:
            raise invalid_body(f"Input {name!r}: a BYTES element is cut short (4-byte length).")
        (length,) = unpack(chunk, position)
        position += 4
        if position + length > end:
            raise invalid_body(f"Input {name!r}: a BYTES element runs past the tensor's data.")
        try:
            values.append(str(chunk[position : position + length], "utf-8"))
        except UnicodeDecodeError:
            raise invalid_body(
                f"Input {name!r}: element {len(values) + 1} is not UTF-8 text."
            ) from None
        position += length
    if len(values) != rows:
        raise invalid_body(
            f"Input {name!r}: shape says {rows} values, the data holds {len(values)}."
        )
    return values


def _binary_values(
    name: str, datatype: str, chunk: memoryview, rows: int
) -> list[Any] | np.ndarray:
    kind = DATATYPES[datatype]
    if kind is None:
        return _bytes_values(name, chunk, rows)
    if len(chunk) != rows * kind.itemsize:
        raise invalid_body(
            f"Input {name!r}: {rows} {datatype} values take {rows * kind.itemsize} bytes; "
            f"binary_data_size says {len(chunk)}."
        )
    values = np.frombuffer(chunk, dtype=kind)
    return values != 0 if datatype == "BOOL" else values.astype(kind.newbyteorder("="), copy=False)


def _shape_rows(name: str, shape: Any) -> int:
    if (
        not isinstance(shape, list)
        or not all(type(d) is int and d >= 0 for d in shape)
        or not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1))
    ):
        raise invalid_body(
            f"Input {name!r} has shape {shape!r}; send one tensor per column, shape [n] or [n, 1]."
        )
    rows: int = shape[0]
    return rows


def _outputs(value: Any) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(o, dict) for o in value):
        raise invalid_body('"outputs" must be a list of objects such as {"name": "predict"}.')
    found = []
    for output in value:
        name = output.get("name")
        if not isinstance(name, str):
            raise invalid_body('Each of "outputs" needs a "name" (a string).')
        parameters = output.get("parameters") or {}
        binary = parameters.get("binary_data") if isinstance(parameters, dict) else None
        found.append(RequestedOutput(name, binary if isinstance(binary, bool) else None))
    return found


def parse_infer(
    body: bytes, *, header_length: int | None = None, max_rows: int | None = None
) -> InferRequest:
    """A V2 ``infer`` body (JSON, or JSON header + binary tensors) as columns; raises ``ApiError``."""
    if header_length is not None and header_length > len(body):
        raise invalid_body(f"{HEADER} is {header_length}, longer than the {len(body)}-byte body.")
    cut = len(body) if header_length is None else header_length
    view = memoryview(body)
    doc = loads(view[:cut], example=EXAMPLE)
    rest = view[cut:]
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or not doc["inputs"]:
        raise invalid_body(
            'A V2 infer body is an object with "inputs": a list of tensors '
            '{"name", "shape", "datatype", "data"}, one per column.'
        )
    ignored = [k for k in doc if k not in REQUEST_FIELDS]
    parameters = doc.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise invalid_body('"parameters" must be an object.')
    for key in ignored:
        check_depth(doc[key], what=f'The field "{key}"')
    check_depth(parameters, what='"parameters"')
    columns: dict[str, list[Any] | np.ndarray] = {}
    rows: int | None = None
    offset = 0
    for number, tensor in enumerate(doc["inputs"], start=1):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise invalid_body(f'Input {number} must be an object with a "name" (a string).')
        name = tensor["name"]
        if name in columns:
            raise invalid_body(f"Input {name!r} appears twice; send one tensor per column.")
        datatype = tensor.get("datatype")
        if not isinstance(datatype, str) or datatype not in DATATYPES:
            raise invalid_body(
                f"Input {name!r} has datatype {datatype!r}; use one of {', '.join(DATATYPES)}."
            )
        count = _shape_rows(name, tensor.get("shape"))
        if rows is None:
            limit_rows(count, max_rows)
            rows = count
        elif count != rows:
            raise invalid_body(
                f"Input {name!r} has {count} rows, other inputs {rows}; one row count for all."
            )
        extension = tensor.get("parameters") or {}
        size = extension.get("binary_data_size") if isinstance(extension, dict) else None
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(rest):
                raise invalid_body(
                    f"Input {name!r}: binary_data_size {size!r} does not fit the "
                    f"{len(rest)} bytes after the JSON header (is {HEADER} right?)."
                )
            columns[name] = _binary_values(name, datatype, rest[offset : offset + size], count)
            offset += size
        elif "data" in tensor:
            columns[name] = _json_values(name, datatype, tensor["data"], count)
        else:
            raise invalid_body(f'Input {name!r} has neither "data" nor binary_data_size.')
    if offset != len(rest):
        raise invalid_body(
            f"{len(rest) - offset} bytes after the JSON header belong to no input; "
            f"check {HEADER} and each binary_data_size."
        )
    request_id = doc.get("id")
    return InferRequest(
        table=Table(columns, rows or 0, ignored, "v2"),
        id=None if request_id is None else str(request_id),
        outputs=_outputs(doc.get("outputs")),
        binary_output=parameters.get("binary_data_output") is True,
        parameters=parameters,
    )


def label_datatype(labels: list[Any]) -> str:
    """The V2 datatype of a model's labels: BOOL, INT64, FP64 or BYTES (FP64 when none known)."""
    if labels and all(isinstance(v, bool | np.bool_) for v in labels):
        return "BOOL"
    if labels and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in labels):
        return "INT64"
    if all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in labels):
        return "FP64"
    return "BYTES"


def _labels(scores: Scores) -> tuple[str, list[Any]]:
    known = (
        scores.classes
        if scores.classes is not None
        else [p for p in scores.predictions if p is not None]
    )
    datatype = label_datatype(list(known))
    fill = {"BOOL": False, "INT64": 0, "FP64": float("nan"), "BYTES": ""}[datatype]
    values = [fill if v is None else v for v in scores.predictions]
    if datatype == "BYTES":
        values = [v if isinstance(v, str) else str(v) for v in values]
    return datatype, values


def _tensor(
    name: str, datatype: str, shape: list[int], values: Any, binary: bool
) -> tuple[dict[str, Any], bytes]:
    entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
    if not binary:
        entry["data"] = values.reshape(-1).tolist() if isinstance(values, np.ndarray) else values
        return entry, b""
    if datatype == "BYTES":
        raw = b"".join(
            struct.pack("<I", len(encoded)) + encoded
            for encoded in (str(v).encode() for v in values)
        )
    else:
        kind = DATATYPES[datatype]
        assert kind is not None
        raw = np.asarray(values).astype(kind).tobytes()
    entry["parameters"] = {"binary_data_size": len(raw)}
    return entry, raw


def encode_infer(
    scores: Scores,
    *,
    model_name: str,
    model_version: str | None = None,
    request: InferRequest | None = None,
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it.

    With a length, the server answers ``Content-Type: application/octet-stream`` and
    ``Inference-Header-Content-Length: <length>``; without, plain ``application/json``.
    """
    n = len(scores)
    available = [PREDICT] + ([PROBA] if scores.probabilities is not None else [])
    if request is not None:
        request.check_outputs([*available, ERROR])
    wanted = (
        {o.name: o.binary for o in request.outputs}
        if request is not None and request.outputs is not None
        else dict.fromkeys(available, None)
    )
    if scores.failed:
        wanted.setdefault(ERROR, None)
    default = request.binary_output if request is not None else False
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, binary in wanted.items():
        as_binary = default if binary is None else binary
        if name == PREDICT:
            datatype, values = _labels(scores)
            entry, raw = _tensor(name, datatype, [n], values, as_binary)
        elif name == PROBA and scores.probabilities is not None:
            matrix = scores.probabilities
            entry, raw = _tensor(name, "FP64", list(matrix.shape), matrix, as_binary)
        else:
            errors = [e or "" for e in scores.errors]
            entry, raw = _tensor(ERROR, "BYTES", [n], errors, as_binary)
        entries.append(entry)
        chunks.append(raw)
    response: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        response["model_version"] = model_version
    if request is not None and request.id is not None:
        response["id"] = request.id
    response["outputs"] = entries
    head = dumps(response)
    if not any(chunks):
        return head, None
    return head + b"".join(chunks), len(head)


def input_datatype(column_type: str, *, nullable: bool = False) -> str:
    """The datatype a client should send for a column of ``column_type`` (any numeric type is read)."""
    if column_type == "integer":
        return "FP64" if nullable else "INT64"  # NaN for missing values needs a float
    return {"float": "FP64", "boolean": "BOOL"}.get(column_type, "BYTES")


def metadata(
    name: str,
    *,
    inputs: list[tuple[str, str, bool]],
    classes: list[Any] | None,
    probabilities: bool,
    versions: list[str] | None = None,
) -> dict[str, Any]:
    """``GET /v2/models/{name}``: ``inputs`` as (column, column type, nullable) in model order."""
    outputs: list[dict[str, Any]] = [
        {
            "name": PREDICT,
            "datatype": "FP64" if classes is None else label_datatype(list(classes)),
            "shape": [-1],
        }
    ]
    if probabilities and classes is not None:
        outputs.append({"name": PROBA, "datatype": "FP64", "shape": [-1, len(classes)]})
    return {
        "name": name,
        "versions": versions or [],
        "platform": "mloop",
        "inputs": [
            {"name": column, "datatype": input_datatype(kind, nullable=nullable), "shape": [-1]}
            for column, kind, nullable in inputs
        ],
        "outputs": outputs,
    }
