"""Export a registered scikit-learn pipeline to ONNX, for the ONNX Runtime flavor.

skl2onnx converts most models in float32 where scikit-learn computes in float64; for linear models
the two agree to ~1e-7. Tree ensembles are converted in double (``flavors.onnx_convert``), because in
float32 a row whose value sits near a split goes down the other branch. Whatever the path, every
export is checked against the registered model on the run's held-out rows, and a file that answers
differently by more than ``tolerance`` is not written: serving it would silently change the
model's answers.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mloop.artifacts import ArtifactStore
from mloop.errors import InvalidInput, ValidationFailed
from mloop.flavors import get_flavor
from mloop.flavors.onnx import export_onnx
from mloop.hashing import display, hash_bytes
from mloop.plural import plural
from mloop.registry.exports import ExportRecord, record_export
from mloop.registry.loading import LoadedModel, load_version
from mloop.registry.versions import resolve
from mloop.scoring.names import HOLDOUT_ARTIFACT
from mloop.scoring.targets import Task
from mloop.store import Store
from mloop.tracking.runs import get_run

AGREEMENT_ROWS = 500
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Agreement:
    """How closely the ONNX file answers like the registered model on the same rows."""

    rows: int
    measure: str  # "probability", or "prediction / spread" for regressors
    max_diff: float
    labels_differ: int


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    size: int
    hash: str
    agreement: Agreement
    export: ExportRecord | None = None  # the checked export recorded with the model version


def _sample(store: Store, artifacts: ArtifactStore, run_id: str | None) -> pd.DataFrame | None:
    if not run_id:
        return None
    run = get_run(store, run_id)
    stored = next((a for a in run.artifacts if a.path == HOLDOUT_ARTIFACT), None)
    return (
        None
        if stored is None
        else pd.read_parquet(io.BytesIO(artifacts.get_bytes(stored.blob_hash))).head(AGREEMENT_ROWS)
    )


def _agreement(loaded: LoadedModel, data: bytes, prepared: pd.DataFrame) -> Agreement:
    onnx = get_flavor("onnx")
    session = onnx.load(data)
    expected, got = loaded.flavor.predict(loaded.model, prepared), onnx.predict(session, prepared)
    expected_p = loaded.flavor.predict_proba(loaded.model, prepared)
    got_p = onnx.predict_proba(session, prepared)
    differ = int(np.sum(np.asarray(expected) != np.asarray(got)))
    if expected_p is not None and got_p is not None and expected_p.shape == got_p.shape:
        diff = float(np.max(np.abs(expected_p - got_p))) if len(prepared) else 0.0
        return Agreement(len(prepared), "probability", diff, differ)
    if loaded.version.signature.task == Task.CLASSIFICATION:  # labels only (SVC, ridge)
        rate = differ / len(prepared) if len(prepared) else 0.0
        return Agreement(len(prepared), "label (share of rows)", rate, differ)
    expected_f = np.asarray(expected, dtype=float)
    spread = float(np.std(expected_f)) or 1.0 if len(expected_f) else 1.0
    diff = float(np.max(np.abs(expected_f - np.asarray(got, dtype=float)))) / spread
    return Agreement(len(prepared), "prediction / spread", diff if len(prepared) else 0.0, 0)


def _umask() -> int:
    """The process umask, read without setting it (os.umask changes it for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    probe = Path(tempfile.mkdtemp())  # elsewhere: what a new file gets is the umask's complement
    try:
        made = probe / "p"
        made.touch(mode=0o666)
        return 0o666 & ~made.stat().st_mode & 0o777
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def export_onnx_file(
    store: Store,
    artifacts: ArtifactStore,
    ref: str,
    out: Path,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    actor: str | None = None,
) -> WrittenFile:
    """Write ``ref`` as ONNX to ``out`` atomically; with ``actor``, also record the checked
    export with the model version (``registry.exports``), which ``--runtime onnx`` serves.

    Raises ``InvalidInput`` when it cannot convert, ``ValidationFailed`` (nothing written) when the
    ONNX file's answers differ from the model's by more than ``tolerance`` on held-out rows.
    """
    version = resolve(store, ref)
    if version.flavor != "sklearn":
        raise InvalidInput(
            f"{version.ref} is a {version.flavor} model; ONNX export covers scikit-learn pipelines."
        )
    loaded = load_version(artifacts, version)
    sample = _sample(store, artifacts, version.run_id)
    if sample is None and version.signature.input_example:
        sample = pd.DataFrame(version.signature.input_example)
    if sample is None:
        raise InvalidInput(f"{version.ref} has no input example to infer ONNX input types from.")
    target = version.signature.target
    if target in sample.columns:
        sample = sample.drop(columns=[target])
    prepared = loaded.prepare(sample)
    data = export_onnx(loaded.model, prepared)
    agreement = _agreement(loaded, data, prepared)
    if not agreement.max_diff <= tolerance:
        raise ValidationFailed(
            f"The ONNX export of {version.ref} answers differently from the model on "
            f"{plural(agreement.rows, 'held-out row')}: max |Δ {agreement.measure}| = "
            f"{agreement.max_diff:.3g} > tolerance {tolerance:g} (ONNX Runtime computes this "
            "model in float32); nothing was written. Serve the model "
            "itself, or pass --tolerance if that difference is acceptable.",
            details=agreement,
        )
    out = out.expanduser()
    if out.is_dir():
        raise InvalidInput(
            f"{out} is a folder; give a file path such as {out / (version.name + '.onnx')}."
        )
    record = (
        None
        if actor is None
        else record_export(store, artifacts, version, data, asdict(agreement), actor=actor)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".onnx-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; the export is a file to ship
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return WrittenFile(out.resolve(), len(data), display(hash_bytes(data)), agreement, record)
