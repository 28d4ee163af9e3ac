"""The Python API's thin edge: open the workspace, call one service, return its result.

Each function takes ``workspace=`` (a ``Workspace``, a folder, or None for ``MLOOP_WORKSPACE`` /
the nearest parent folder with ``mloop.toml``), like the CLI's ``--workspace``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mloop.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mloop.data.datasets import DatasetVersion
    from mloop.data.profile import DatasetProfile
    from mloop.endpoints.revisions import Revision
    from mloop.monitoring.drift import DriftReport
    from mloop.registry.loading import LoadedModel

WorkspaceLike = Workspace | str | os.PathLike[str] | None


@contextmanager
def using(workspace: WorkspaceLike) -> Iterator[Workspace]:
    """Yield an open workspace; close it afterwards only if this call opened it."""
    if isinstance(workspace, Workspace):
        yield workspace
        return
    opened = Workspace.open(workspace)
    try:
        yield opened
    finally:
        opened.close()


def add_dataset(
    name: str,
    path: str | os.PathLike[str],
    *,
    validate: bool = False,
    sep: str | None = None,
    workspace: WorkspaceLike = None,
) -> DatasetVersion:
    """Snapshot a CSV or Parquet file as the next version of ``name`` (or the same one for the same bytes).

    ``sep`` is a CSV's separator (``" "`` for runs of spaces), sniffed when ``None``; a file that
    reads as one column but looks wider issues a ``UserWarning`` saying which ``sep`` to try.
    """
    from mloop.data.datasets import add_version
    from mloop.data.io import parse_separator

    with using(workspace) as ws:
        result = add_version(
            ws.store,
            ws.artifacts,
            name=name,
            path=Path(path),
            actor=ws.user,
            validate=validate,
            root=ws.root,
            sep=None if sep is None else parse_separator(sep),
        )
    for message in result.warnings:
        warnings.warn(message, UserWarning, stacklevel=2)
    return result.version


def get_dataset(ref: str, *, workspace: WorkspaceLike = None) -> DatasetVersion:
    """``NAME``, ``NAME@N`` or ``NAME@latest``; raises ``NotFound``."""
    from mloop.data.datasets import get_version

    with using(workspace) as ws:
        return get_version(ws.store, ref)


def load_dataset(ref: str, *, workspace: WorkspaceLike = None) -> pd.DataFrame:
    """The stored, hash-verified snapshot of a dataset version as a DataFrame."""
    from mloop.data.datasets import get_version, load_frame

    with using(workspace) as ws:
        return load_frame(ws.store, ws.artifacts, get_version(ws.store, ref))


def load_model(ref: str, *, workspace: WorkspaceLike = None) -> LoadedModel:
    """Load ``NAME@N`` or ``NAME@ALIAS``: hash-verified, safe formats only; ``.predict(frame)``."""
    from mloop.registry.loading import load_model as load

    with using(workspace) as ws:
        return load(ws.store, ws.artifacts, ref)


def deploy(
    endpoint: str,
    model_ref: str,
    *,
    canary: str | None = None,
    weight: int | None = None,
    shadow: str | None = None,
    stage: bool = False,
    runtime: str = "python",
    reason: str | None = None,
    workspace: WorkspaceLike = None,
) -> Revision:
    """Serve ``model_ref`` (``NAME@N``, or ``NAME@ALIAS`` followed as it moves) at ``endpoint``.

    Writes one new revision, like ``mloop deploy``: ``canary`` answers ``weight`` percent of
    requests, ``shadow`` scores a copy of each (never returned), ``stage`` prepares it beside the
    live revision until ``mloop endpoints switch``. A running ``mloop serve`` picks it up by
    itself. Raises ``NotFound`` or ``InvalidInput`` (nothing written) for a ref that does not
    resolve, a weight outside 1-99, a canary of another target, a shadow equal to the primary.
    """
    from mloop.endpoints.service import deploy as run_deploy

    with using(workspace) as ws:
        return run_deploy(
            ws.store,
            endpoint,
            model_ref,
            canary=canary,
            weight=weight,
            shadow=shadow,
            stage=stage,
            runtime=runtime,
            reason=reason,
            actor=ws.user,
        )


def predict(
    model_ref: str,
    frame: pd.DataFrame,
    *,
    on_invalid: Literal["raise", "drop"] = "raise",
    workspace: WorkspaceLike = None,
) -> pd.DataFrame:
    """Score ``frame`` with ``NAME@N`` or ``NAME@ALIAS``, checking its rows with the model's rules.

    Returns a DataFrame on ``frame``'s index: ``prediction`` and, for a classifier, one
    ``proba_<class>`` column per class (``proba_True``). A row breaking a rule raises
    ``ValidationFailed`` whose ``details`` list every bad value (row, index, column, rule,
    value, message); ``on_invalid="drop"`` scores the rest and leaves those rows out. Also
    raises ``NotFound`` (model), ``InvalidInput`` (a column the model reads is missing),
    ``IntegrityError`` (model blob). ``mloop predict`` does the same for files of any size.
    """
    from mloop.batch.frames import predict_frame
    from mloop.batch.scorer import scorer_for

    with using(workspace) as ws:
        scorer = scorer_for(ws.store, ws.artifacts, model_ref, root=ws.root)
    return predict_frame(scorer, frame, on_invalid=on_invalid)


def drift(
    reference: str | os.PathLike[str] | pd.DataFrame | pa.Table | DatasetProfile,
    current: str | os.PathLike[str] | pd.DataFrame | pa.Table | DatasetProfile,
    *,
    column_methods: Mapping[str, str] | None = None,
    drift_share: float = 0.5,
    weights: Mapping[str, float] | None = None,
    columns: Sequence[str] | None = None,
    workspace: WorkspaceLike = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` column by column, as ``mloop drift`` does.

    Each side is a dataset version (``"churn@3"``: its stored profile), a CSV/Parquet path, a
    prediction-log window (``"churn-api:24h"``, ``"churn-api:2026-01-01/2026-01-02"``), a
    DataFrame or Arrow table, or a ``DatasetProfile``; the workspace is opened only for names.
    ``column_methods`` maps a column (or ``"*"``) to ``"psi"`` or ``"psi:0.2"``; ``weights``
    (feature importances) weigh columns in the drifted share. Returns the typed report
    (``.to_json()`` is the CLI's ``--json``); raises ``InvalidInput`` and ``NotFound``.
    """
    from mloop.monitoring.drift import compare, current_side, reference_side
    from mloop.monitoring.sources import resolve
    from mloop.predlog import folder_for

    named = [isinstance(side, str | os.PathLike) for side in (reference, current)]
    options = {
        "column_methods": column_methods,
        "drift_share": drift_share,
        "weights": weights,
        "columns": columns,
    }
    if not any(named):
        ref = reference_side(reference, "reference")  # type: ignore[arg-type]
        return compare(ref, current_side(current, ref, "current"), **options)  # type: ignore[arg-type]
    with using(workspace) as ws:
        folder = folder_for(ws.settings)
        if isinstance(reference, str | os.PathLike):
            ref = resolve(os.fspath(reference), ws.store, folder)
        else:
            ref = reference_side(reference, "reference")
        if isinstance(current, str | os.PathLike):
            cur = resolve(os.fspath(current), ws.store, folder, reference=ref)
        else:
            cur = current_side(current, ref, "current")
    return compare(ref, cur, **options)  # type: ignore[arg-type]
