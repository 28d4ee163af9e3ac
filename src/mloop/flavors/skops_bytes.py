"""Byte-identical skops files for identical models.

skops names each array file and each object reference after ``id()`` (a memory address) and stamps
the current time on every zip entry, so the same fitted pipeline saved twice gives two hashes. The
artifact store is content-addressed, and later pipeline caching keys steps on these hashes, so a
retrain that reproduces a model must reproduce its bytes: references are renumbered in the order
skops wrote them and entries get a fixed timestamp. Loading is unchanged (skops reads these files
as its own), and the renumbering is a bijection, so shared references stay shared.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

SCHEMA = "schema.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def canonical_skops(data: bytes) -> bytes:
    """The same model as ``data`` with ids and timestamps that depend only on the model."""
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read(SCHEMA))
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, list):
            return [renumber(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                out[key] = ids.setdefault(value, len(ids) + 1)  # skops treats id 0 as "none"
            elif key == "file" and isinstance(value, str) and value in names:
                suffix = value[value.rfind(".") :] if "." in value else ""
                out[key] = files.setdefault(value, f"{len(files)}{suffix}")
            else:
                out[key] = renumber(value)
        return out

    names = set(source.namelist()) - {SCHEMA}
    schema = renumber(schema)
    if set(files) != names:  # a layout this does not know: keep skops' own bytes
        return data
    compression = {info.filename: info.compress_type for info in source.infolist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:

        def put(name: str, payload: bytes, kind: int) -> None:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = kind
            info.external_attr = 0o644 << 16
            target.writestr(info, payload)

        put(SCHEMA, json.dumps(schema, indent=2).encode(), compression[SCHEMA])
        for old, new in files.items():
            put(new, source.read(old), compression[old])
    return out.getvalue()
