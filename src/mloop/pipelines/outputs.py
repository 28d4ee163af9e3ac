"""Step outputs as blobs in the content-addressed store, in the safest format that holds them.

A pandas DataFrame or an Arrow table is Parquet, a numpy array (not of objects) ``.npy`` without
pickle, ``None``/numbers/text/lists/dicts that survive a JSON round trip JSON; anything else is
pickled. Pickle runs code when loaded, which is acceptable here only because a step output is an
object the user's own code made and a blob is read back only by the hash this workspace recorded
for it (the store verifies the bytes on read). Formats are chosen by type name, so a fully cached
run, which never loads an output, imports neither pandas nor numpy.

Parquet and ``.npy`` are deterministic for equal data, so a step that re-runs and produces the
same table yields the same hash and its dependents stay cached.
"""

from __future__ import annotations

import io
import json
import math
import pickle
from typing import Any

from mloop.artifacts import ArtifactStore


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _json_safe(value: Any) -> bool:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return bool(json.loads(text) == value) and _same_types(json.loads(text), value)


def _same_types(left: Any, right: Any) -> bool:
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return all(_same_types(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        return all(_same_types(left[k], right[k]) for k in left)
    return not (isinstance(left, float) and math.isnan(left))


def encode(value: Any) -> tuple[str, bytes]:
    """The format name and bytes that store ``value``."""
    kind = type(value)
    name = f"{kind.__module__.partition('.')[0]}.{kind.__qualname__}"  # pandas 3 says "pandas"
    if name == "pandas.DataFrame":
        buffer = io.BytesIO()
        value.to_parquet(buffer, engine="pyarrow")
        return "parquet-pandas", buffer.getvalue()
    if name == "pyarrow.Table":
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(value, buffer)
        return "parquet-arrow", buffer.getvalue()
    if name == "numpy.ndarray" and value.dtype != object:
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return "npy", buffer.getvalue()
    plain = value is None or isinstance(value, (bool, int, float, str, list, dict))
    if plain and _json_safe(value):
        return "json", json.dumps(value, sort_keys=True).encode()
    return "pickle", pickle.dumps(value, protocol=5)


def decode(fmt: str, data: bytes) -> Any:
    if fmt == "parquet-pandas":
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    if fmt == "parquet-arrow":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data))
    if fmt == "npy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if fmt == "json":
        return json.loads(data)
    if fmt == "pickle":
        return pickle.loads(data)  # the user's own object, by the hash this workspace recorded
    raise ValueError(f"unknown step output format {fmt!r}")


def store_output(artifacts: ArtifactStore, value: Any) -> dict[str, Any]:
    """Store ``value``; the record kept in ``pipeline_steps.outputs``."""
    fmt, data = encode(value)
    ref = artifacts.put_bytes(data)
    record: dict[str, Any] = {
        "hash": ref.uri,
        "format": fmt,
        "type": _type_name(value),
        "size": ref.size,
    }
    model = getattr(value, "ref", None)
    if _type_name(value) == "mloop.registry.versions.ModelVersion" and isinstance(model, str):
        record["model"] = model
    return record


def load_output(artifacts: ArtifactStore, record: dict[str, Any]) -> Any:
    """The value a step output record names; raises ``NotFound``/``IntegrityError`` from the store."""
    digest = str(record["hash"]).removeprefix("blake3:")
    return decode(str(record["format"]), artifacts.get_bytes(digest))
