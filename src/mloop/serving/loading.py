"""Loading what an endpoint serves, and opening the prediction log: the blocking steps.

Each runs in a worker thread (the poller calls them through ``asyncio.to_thread``), never on the
event loop: reading and hash-checking a model blob, building its runner, warming it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mloop.serving.state import Scorer, ServingState

if TYPE_CHECKING:
    from mloop.endpoints.revisions import ModelSlot
    from mloop.serving.runner import ModelRunner
    from mloop.workspace import Workspace


def load_runner(workspace: Workspace, slot: ModelSlot, runtime: str) -> ModelRunner:
    """The model of ``slot`` for ``runtime``, hash-verified, warmed on its input example.

    Raises ``IntegrityError`` (missing or tampered blob), ``UntrustedArtifact``, ``NotFound``
    (no recorded ONNX export), or ``ApiError`` 503 when it cannot score its own example.
    """
    from mloop.errors import IntegrityError, NotFound
    from mloop.registry.exports import get_export
    from mloop.registry.loading import load_version
    from mloop.registry.versions import version_by_id
    from mloop.serving.runner import ModelRunner

    with workspace.store.read() as conn:
        version = version_by_id(conn, slot.version_id)
    if runtime == "onnx":
        export = get_export(workspace.store, version.id, "onnx")
        if export is None:
            raise NotFound(
                f"{version.ref} has no checked ONNX export; run `mloop models export --onnx`."
            )
        problem = workspace.artifacts.verify(export.artifact_hash)
        if problem is not None:
            raise IntegrityError(
                f"The ONNX export of {version.ref} fails its hash check ({problem.problem}); "
                "export it again with `mloop models export --onnx`."
            )
        data = workspace.artifacts.get_bytes(export.artifact_hash)
        runner = ModelRunner.from_onnx(version, data, expected_hash=export.artifact_hash)
    else:
        runner = ModelRunner.from_loaded(
            load_version(workspace.artifacts, version), root=workspace.root
        )
    runner.check_ready()
    return runner


async def load_scorer(
    workspace: Workspace, endpoint: str, slot: ModelSlot, runtime: str, state: ServingState
) -> Scorer:
    """Load (hash-verified) and warm in a worker thread, then put the endpoint's micro-batcher in
    front: the scorer is ready for traffic when returned."""
    from mloop.serving.batcher import Batcher

    settings = state.settings.for_endpoint(endpoint)
    runner = await asyncio.to_thread(load_runner, workspace, slot, runtime)
    sizes = state.metrics.batch_rows.labels(endpoint, slot.model, str(slot.version))
    batcher = Batcher(
        runner,
        max_rows=settings.batch_max_rows,
        max_wait_ms=settings.batch_max_wait_ms,
        capacity=settings.queue,
        name=f"{endpoint}/{slot.ref}",
        on_batch=sizes.observe,
    )
    return Scorer(slot=slot, runtime=runtime, runner=runner, batcher=batcher)


def open_logs(workspace: Workspace, state: ServingState) -> None:
    from mloop.predlog import PredictionLog, folder_for

    log_ = PredictionLog(
        folder_for(workspace.settings), durability=state.settings.defaults.log_durability
    )
    for name, served in state.endpoints.items():
        log_.set_durability(name, served.settings.log_durability)
    state.log = log_
    state.metrics.watch_log(log_.stats)


def close_logs(state: ServingState) -> None:
    if state.log is not None:
        state.log.flush()
        state.log.close()
        state.log = None
