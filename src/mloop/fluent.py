"""``with mloop.start_run(...) as run:``: the tracking API for training scripts.

A thin edge over the tracking services. The current run lives in a ``ContextVar`` scoped by the
``with`` block (no module-level state), metrics go through the batching ``MetricWriter`` so a
training loop never waits on the store, and an exception inside the block ends the run as FAILED
with the error recorded before it propagates.
"""

from __future__ import annotations

import contextvars
import os
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mloop.errors import InvalidInput
from mloop.tracking import runs
from mloop.tracking.environment import capture_environment
from mloop.tracking.writer import MetricWriter
from mloop.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

    from mloop.registry.versions import ModelVersion
    from mloop.tracking.runs import ArtifactRecord

_ACTIVE: contextvars.ContextVar[ActiveRun | None] = contextvars.ContextVar(
    "mloop_active_run", default=None
)


class ActiveRun:
    def __init__(self, workspace: Workspace, info: runs.RunInfo, *, owns_workspace: bool) -> None:
        self.workspace = workspace
        self.info = info
        self._owns_workspace = owns_workspace
        self._writer = MetricWriter(workspace.store)
        self._steps: dict[str, int] = {}
        self._token: contextvars.Token[ActiveRun | None] | None = None
        self._ended = False

    @property
    def id(self) -> str:
        return self.info.id

    def log_param(self, key: str, value: Any) -> None:
        runs.log_params(self.workspace.store, self.id, {key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        runs.log_params(self.workspace.store, self.id, params)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Queue one point; ``step`` defaults to one past this key's last step, ``timestamp`` (seconds) to now."""
        runs.check_key(key, "Metric")
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"Metric {key!r} must be a number, not {value!r}.") from exc
        if step is None:
            step = self._steps.get(key, -1) + 1
        self._steps[key] = max(step, self._steps.get(key, -1))
        stamp = time.time_ns() // 1_000_000 if timestamp is None else int(timestamp * 1000)
        self._writer.add(self.id, key, number, int(step), stamp)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step=step)

    def set_tag(self, key: str, value: Any) -> None:
        runs.set_tags(self.workspace.store, self.id, {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        runs.set_tags(self.workspace.store, self.id, tags)

    def log_artifact(
        self, path: str | os.PathLike[str], name: str | None = None
    ) -> list[ArtifactRecord]:
        return runs.log_artifact(
            self.workspace.store, self.workspace.artifacts, self.id, Path(path), name
        )

    def log_input(self, version: Any, role: str = "train") -> None:
        """Record that this run read a dataset version (a ``DatasetVersion``, its id, or ``NAME@N``)."""
        version_id = getattr(version, "id", None)
        if version_id is None and isinstance(version, str) and "@" in version:
            from mloop.data.datasets import get_version

            version_id = get_version(self.workspace.store, version).id
        runs.log_input(self.workspace.store, self.id, str(version_id or version), role=role)

    def log_model(
        self, model: Any, name: str | None = None, *, input_example: pd.DataFrame | None = None
    ) -> ModelVersion | ArtifactRecord:
        """Store ``model`` in a safe format (skops for scikit-learn) and, with ``name``, register it as ``NAME@N``."""
        import json

        from mloop.flavors import flavor_for

        flavor = flavor_for(model)
        record = runs.log_artifact_bytes(
            self.workspace.store,
            self.workspace.artifacts,
            self.id,
            "model",
            flavor.save(model),
            kind=f"model:{flavor.name}",
        )
        if input_example is not None:
            example = json.loads(input_example.head(5).to_json(orient="records", date_format="iso"))
            signature = {
                "input_example": example,
                "columns": [str(c) for c in input_example.columns],
            }
            runs.log_artifact_bytes(
                self.workspace.store,
                self.workspace.artifacts,
                self.id,
                "signature.json",
                json.dumps(signature).encode(),
                kind="signature",
            )
        if name is None:
            return record
        self._writer.flush()
        from mloop.registry.register import register_run

        return register_run(
            self.workspace.store,
            self.workspace.artifacts,
            run_id=self.id,
            name=name,
            actor=self.workspace.user,
        )

    def end(self, status: runs.Status = "FINISHED", error: str | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            self._writer.close()
        finally:
            runs.finish_run(self.workspace.store, self.id, status, error)
            if self._owns_workspace:
                self.workspace.close()

    def __enter__(self) -> ActiveRun:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
        if exc is None:
            self.end("FINISHED")
            return
        status: runs.Status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        tail = "".join(traceback.format_exception(exc)[-3:])
        self.end(status, f"{type(exc).__name__}: {exc}\n{tail}")


def start_run(
    experiment: str = "default",
    *,
    name: str | None = None,
    workspace: Workspace | str | os.PathLike[str] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ActiveRun:
    """Start a run; use it as ``with mloop.start_run(experiment="churn") as run:``."""
    owns = not isinstance(workspace, Workspace)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    info = runs.create_run(
        ws.store,
        experiment=experiment,
        user=ws.user,
        environment=capture_environment(Path.cwd()),
        name=name,
    )
    run = ActiveRun(ws, info, owns_workspace=owns)
    if tags:
        run.set_tags(tags)
    return run


def active_run() -> ActiveRun | None:
    """The run of the innermost ``with start_run()`` block in this context, or None."""
    return _ACTIVE.get()
