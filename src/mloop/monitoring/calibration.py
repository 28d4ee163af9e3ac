"""A model version's calibrator for CBPE, found once and cached beside the prediction log.

``mloop train`` fits it on the held-out split it has just scored and stores it with the run
(``CALIBRATION_ARTIFACT``); a version that came without one (logged by hand, or trained before
runs stored it) has its run's held-out split (``registry.holdout``) scored with the version
itself and fitted here. Either way the curves are kept in ``<log root>/.calibration/<artifact
hash>.json`` (written temp → rename), so a later window reads one small file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import orjson

from mloop.artifacts import ArtifactStore
from mloop.errors import InvalidInput, MloopError
from mloop.registry.versions import ModelVersion
from mloop.scoring.calibration import Calibrator, fit_calibrator, from_doc, to_doc
from mloop.scoring.names import CALIBRATION_ARTIFACT
from mloop.store import Store

CALIBRATION_DIR = ".calibration"


def _cache_path(log_root: Path, version: ModelVersion) -> Path:
    return log_root / CALIBRATION_DIR / f"{version.artifact_hash}.json"


def _load(path: Path) -> Calibrator | None:
    try:
        return from_doc(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError):
        return None  # absent or torn: found again


def _save(path: Path, calibrator: Calibrator) -> None:
    doc = to_doc(calibrator)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(orjson.dumps(doc))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _from_run(store: Store, artifacts: ArtifactStore, version: ModelVersion) -> Calibrator | None:
    """The calibrator ``mloop train`` stored with the version's run, if it did."""
    if not version.run_id:
        return None
    from mloop.tracking.runs import get_run

    try:
        run = get_run(store, version.run_id)
        stored = next((a for a in run.artifacts if a.path == CALIBRATION_ARTIFACT), None)
        if stored is None:
            return None
        return from_doc(orjson.loads(artifacts.get_bytes(stored.blob_hash)))
    except (MloopError, orjson.JSONDecodeError):
        return None  # a missing run or blob: fitted from the held-out split instead


def calibrator_for(
    store: Store, artifacts: ArtifactStore, log_root: Path, version: ModelVersion
) -> Calibrator:
    """The version's calibrator: cached, stored by its training run, or fitted on its run's
    held-out split; cached in the last two cases."""
    path = _cache_path(Path(log_root), version)
    cached = _load(path)
    if cached is not None:
        return cached
    trained = _from_run(store, artifacts, version)
    if trained is not None:
        _save(path, trained)
        return trained
    from mloop.registry.gates import score
    from mloop.registry.holdout import load_holdout
    from mloop.registry.loading import load_version

    classes = list(version.signature.classes or [])
    try:
        holdout = load_holdout(store, artifacts, version, None)
        scored = score(load_version(artifacts, version), holdout)
    except InvalidInput as exc:  # no held-out split or target: lasting, so cached
        calibrator = Calibrator(None, 0, f"uncalibrated: {exc}")
    except MloopError as exc:  # a tampered or missing blob: estimate raw, fit again next time
        return Calibrator(None, 0, f"uncalibrated: {exc}")
    else:
        if scored.proba is None or scored.proba.shape[1] != len(classes):
            calibrator = Calibrator(None, 0, "uncalibrated: the model gives no probabilities")
        else:
            calibrator = fit_calibrator(scored.proba, scored.y_true, classes, holdout.source)
    _save(path, calibrator)
    return calibrator
