"""The JSON shapes of results, one function per kind, for every edge that shows them.

``--json`` on the command line and (next) the HTTP API return the same documents, so a script
written against one works against the other. Each function returns plain JSON values (datetimes
as ISO text, NaN and infinities as null, a signature as its stored document); edges only
serialise. Kept light (no pandas, no SQLAlchemy) so the CLI can import it at start-up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from mloop.data.validation import ValidationReport
    from mloop.registry.promotion import Promotion
    from mloop.registry.versions import ModelVersion
    from mloop.tracking.records import Run
    from mloop.training.train import TrainResult


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def plain(data: Any) -> Any:
    """Any result (dataclasses, pydantic models, datetimes, numpy scalars) as plain JSON values."""
    dumped = orjson.dumps(data, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    return _finite(orjson.loads(dumped))


def validation(report: ValidationReport) -> dict[str, Any]:
    """A validation report: passed or not, rows checked, and each violation with example rows."""
    return {
        "ok": report.ok,
        "rows_checked": report.rows_checked,
        "empty_rows": report.empty_rows,
        "violations": plain(report.violations),
        "warnings": plain(report.warnings),
        "new_columns": list(report.new_columns),
    }


def version(model: ModelVersion) -> dict[str, Any]:
    """A model version: its number, run, artifact, signature (as stored), metrics and aliases."""
    shown: dict[str, Any] = {
        field.name: plain(getattr(model, field.name)) for field in dataclasses.fields(model)
    }
    shown["signature"] = model.signature.to_stored()
    return shown


def version_detail(
    model: ModelVersion, *, estimator: str | None, approvals: Any, verdicts: Any
) -> dict[str, Any]:
    """``models show``: the version with the estimator that ran, its approvals and verdicts."""
    return {
        "version": version(model),
        "estimator": estimator,
        "approvals": plain(approvals),
        "verdicts": plain(verdicts),
    }


def promotion(result: Promotion) -> dict[str, Any]:
    """A promotion's outcome: the gate's checks, whether the alias moved, and from where."""
    shown: dict[str, Any] = plain(result)
    shown["moved"] = result.moved
    return shown


def run(found: Run) -> dict[str, Any]:
    """A run: info (status, times, environment), params, latest metrics, tags, artifacts, inputs."""
    shown: dict[str, Any] = plain(found)
    return shown


def train_result(result: TrainResult, *, registered: ModelVersion | None) -> dict[str, Any]:
    """``mloop train``: the data, run, task, metrics, model and what the rows broke."""
    from mloop.hashing import display

    return {
        "dataset": result.dataset.ref,
        "dataset_hash": display(result.dataset.content_hash),
        "run": result.run_id,
        "task": result.task.value,
        "metrics": plain(result.metrics),
        "unscored_metrics": dict(result.unscored),
        "artifact": display(result.model_hash),
        "flavor": result.flavor,
        "estimator": result.estimator,
        "features": result.features.to_dict(),
        "model": None if registered is None else registered.ref,
        "input_validation": validation(result.validation),
    }
