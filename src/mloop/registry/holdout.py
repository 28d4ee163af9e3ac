"""The rows a gate scores on: labelled, and seen in training by none of the models compared.

Re-scoring the candidate and the current holder on one holdout is only fair if neither trained on
it. The candidate's own held-out split is unseen by the candidate, but a holder trained with another
seed or on a later dataset version has seen most of those rows, and a ``--holdout`` dataset may be
the training data itself. So every row that any compared model trained on is left out, by content:
a row's fingerprint is the hash of its values in the columns the holdout shares with the training
data. A model's training rows are its run's ``train`` inputs minus the split its run held out (by
count, so a duplicated row that was also trained on still counts as seen).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mloop.artifacts import ArtifactStore
from mloop.data.datasets import get_version, load_frame
from mloop.errors import InvalidInput
from mloop.registry.versions import ModelVersion
from mloop.scoring.names import HOLDOUT_ARTIFACT
from mloop.scoring.targets import labelled
from mloop.store import Store
from mloop.tracking.runs import get_run

MIN_UNSEEN_ROWS = 10


@dataclass(frozen=True)
class Holdout:
    frame: pd.DataFrame
    source: str
    total_rows: int | None = None
    excluded_rows: int = 0
    split_of_run: str | None = None  # the run that held these rows out, if it is a run's split
    excluded_by: str = "a compared model"

    @property
    def description(self) -> str:
        if not self.excluded_rows:
            return self.source
        return (
            f"{self.source}: {len(self.frame)} of {self.total_rows} rows, "
            f"{self.excluded_rows} left out because {self.excluded_by} trained on them"
        )


def load_holdout(
    store: Store, artifacts: ArtifactStore, candidate: ModelVersion, ref: str | None
) -> Holdout:
    """``--holdout NAME@V`` or the candidate run's held-out split; raises ``InvalidInput`` if neither."""
    if ref:
        version = get_version(store, ref)
        return Holdout(load_frame(store, artifacts, version), version.ref)
    if candidate.run_id:
        frame = _run_holdout(store, artifacts, candidate.run_id)
        if frame is not None:
            return Holdout(
                frame, f"held-out split of run {candidate.run_id}", split_of_run=candidate.run_id
            )
    raise InvalidInput(
        f"{candidate.ref} has no stored held-out split to score on; pass --holdout NAME@V with labelled data."
    )


def require_columns(
    holdout: Holdout, candidate: ModelVersion, models: Iterable[tuple[ModelVersion, str]]
) -> None:
    """The holdout has labels and every compared model's feature columns; raises ``InvalidInput``.

    Versions of one model may be trained on different tables; the one that reads a column the
    holdout lacks is named, with its role, instead of failing later inside its pipeline.
    """
    target = candidate.signature.target
    if target and target not in holdout.frame.columns:
        raise InvalidInput(
            f"The holdout ({holdout.source}) has no target column {target!r} for {candidate.ref}; "
            "pass --holdout NAME@V with labelled data."
        )
    if target and not labelled(holdout.frame[target]).any():
        raise InvalidInput(
            f"The holdout ({holdout.source}) has no labelled rows: every {target!r} is empty; "
            "pass --holdout NAME@V with labelled data."
        )
    for model, role in models:
        features = model.signature.features
        needed = [] if features is None else list(features.columns)
        missing = [c for c in needed if c not in holdout.frame.columns]
        if missing:
            raise InvalidInput(
                f"{model.ref} ({role}) reads {', '.join(missing)}, which the holdout "
                f"({holdout.source}) lacks; pass --holdout NAME@V with every column both models read."
            )


def unseen_by(
    store: Store,
    artifacts: ArtifactStore,
    holdout: Holdout,
    models: Iterable[ModelVersion | None],
) -> Holdout:
    """``holdout`` without the rows any of ``models`` (the candidate, then the holder) trained on.

    A run's own held-out split is what that run did not train on, so it is not filtered against
    that run again: rows that merely repeat a training row are part of the data, and scored as
    they were at training time. Raises ``InvalidInput`` if too few rows are left.
    """
    frame = holdout.frame.reset_index(drop=True)
    keep = pd.Series(True, index=frame.index)
    excluders = []
    models = list(models)
    for role, model in zip(("the candidate", "the current holder"), models, strict=False):
        if model is None or not model.run_id or model.run_id == holdout.split_of_run:
            continue
        seen = _trained_on(store, artifacts, model.run_id, frame, model.signature.target)
        if bool(seen.any()):
            excluders.append(role)
        keep &= ~seen
    excluded = int((~keep).sum())
    if not excluded:
        return holdout
    # the rows left are scored only where they have a label: those are what must be enough
    target = next((m.signature.target for m in models if m is not None), None)
    scored = keep & labelled(frame[target]) if target and target in frame else keep
    if int(scored.sum()) < MIN_UNSEEN_ROWS:
        raise InvalidInput(
            f"Only {int(scored.sum())} of the {len(frame)} rows in {holdout.source} were not used "
            "to train the models compared and have a label; pass --holdout NAME@V with "
            "labelled data none of them saw."
        )
    return replace(
        holdout,
        frame=frame[keep].reset_index(drop=True),
        total_rows=len(frame),
        excluded_rows=excluded,
        excluded_by=excluders[0] if len(excluders) == 1 else "the models compared",
    )


def _run_holdout(store: Store, artifacts: ArtifactStore, run_id: str) -> pd.DataFrame | None:
    run = get_run(store, run_id)
    stored = next((a for a in run.artifacts if a.path == HOLDOUT_ARTIFACT), None)
    if stored is None:
        return None
    return pd.read_parquet(io.BytesIO(artifacts.get_bytes(stored.blob_hash)))


def _trained_on(
    store: Store,
    artifacts: ArtifactStore,
    run_id: str,
    holdout: pd.DataFrame,
    target: str | None,
) -> pd.Series:
    """A boolean per holdout row: does it appear among the run's training rows? Those are the
    training table's labelled rows outside the run's held-out split: a row without a label (or
    with ``?``) was never trained on."""
    seen = pd.Series(False, index=holdout.index)
    run = get_run(store, run_id)
    inputs = [i for i in run.inputs if i.role == "train" and i.dataset_ref]
    if not inputs:
        return seen
    held_out = _run_holdout(store, artifacts, run_id)
    for ref in [i.dataset_ref for i in inputs if i.dataset_ref]:
        training = load_frame(store, artifacts, get_version(store, ref))
        if target and target in training.columns:
            training = training[labelled(training[target])]
        columns = [c for c in holdout.columns if c in training.columns]
        if not columns:
            continue
        counts = _fingerprints(training, columns).value_counts()
        if held_out is not None and all(c in held_out.columns for c in columns):
            counts = counts.sub(_fingerprints(held_out, columns).value_counts(), fill_value=0)
        trained = set(counts.index[counts > 0])
        seen |= _fingerprints(holdout, columns).isin(trained)
    return seen


def _fingerprints(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One 64-bit hash per row, stable across CSV/Parquet dtype differences of the same values."""
    normal = pd.DataFrame(
        {
            name: (
                pd.to_numeric(frame[name], errors="coerce").to_numpy("float64", na_value=np.nan)
                if pd.api.types.is_numeric_dtype(frame[name])
                and not pd.api.types.is_bool_dtype(frame[name])
                # booleans as text: a column with a gap holds True/False/None as objects
                else frame[name].astype("string")
            )
            for name in columns
        },
        index=frame.index,
    )
    return pd.util.hash_pandas_object(normal, index=False).reset_index(drop=True)
