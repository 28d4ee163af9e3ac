"""Export a registered scikit-learn pipeline to ONNX, for the ONNX Runtime flavor."""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mloop.artifacts import ArtifactStore
from mloop.errors import InvalidInput
from mloop.flavors.onnx import export_onnx
from mloop.hashing import hash_bytes
from mloop.registry.loading import load_version
from mloop.registry.versions import resolve
from mloop.store import Store
from mloop.tracking.runs import get_run
from mloop.training.train import HOLDOUT_ARTIFACT


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    size: int
    hash: str


def _sample(store: Store, artifacts: ArtifactStore, run_id: str | None) -> pd.DataFrame | None:
    if not run_id:
        return None
    run = get_run(store, run_id)
    stored = next((a for a in run.artifacts if a.path == HOLDOUT_ARTIFACT), None)
    return (
        None
        if stored is None
        else pd.read_parquet(io.BytesIO(artifacts.get_bytes(stored.blob_hash))).head(20)
    )


def export_onnx_file(store: Store, artifacts: ArtifactStore, ref: str, out: Path) -> WrittenFile:
    """Write ``ref`` as ONNX to ``out`` atomically; raises ``InvalidInput`` when it cannot convert."""
    version = resolve(store, ref)
    if version.flavor != "sklearn":
        raise InvalidInput(
            f"{version.ref} is a {version.flavor} model; ONNX export covers scikit-learn pipelines."
        )
    loaded = load_version(artifacts, version)
    sample = _sample(store, artifacts, version.run_id)
    if sample is None and version.signature.get("input_example"):
        sample = pd.DataFrame(version.signature["input_example"])
    if sample is None:
        raise InvalidInput(f"{version.ref} has no input example to infer ONNX input types from.")
    target = version.signature.get("target")
    if target in sample.columns:
        sample = sample.drop(columns=[target])
    data = export_onnx(loaded.model, loaded.prepare(sample))
    out = out.expanduser()
    if out.is_dir():
        raise InvalidInput(
            f"{out} is a folder; give a file path such as {out / (version.name + '.onnx')}."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".onnx-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return WrittenFile(out.resolve(), len(data), hash_bytes(data))
