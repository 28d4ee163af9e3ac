"""Run a pipeline: trace its body, then execute the graph, reusing every step whose key is known.

A step is ready when all its upstream steps are done. Its key is computed then (its inputs'
content hashes are known only then); a finished step with the same key anywhere in the store (or
in the run being resumed, first) is reused without starting a process. Everything else is
submitted to the executor, so independent steps run at once. The first failure stops new
submissions: steps already running finish and are recorded, steps waiting on the failed one (and
any not started) are ``skipped``, and the run ends ``failed``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mloop.errors import InvalidInput
from mloop.executors import Executor, executor_settings, open_executor
from mloop.pipelines.cache_key import CodeHasher, cache_key, input_record
from mloop.pipelines.graph import Node, Output
from mloop.pipelines.links import link_model
from mloop.pipelines.loader import find_pipeline, load_file, split_target
from mloop.pipelines.params import bind_params, stored_params
from mloop.pipelines.records import (
    FINISHED,
    PipelineRun,
    end_run,
    find_cached,
    get_run,
    now,
    resolve_run_id,
    start_run,
    update_steps,
)
from mloop.pipelines.worker import StepResult, StepTask, file_hash, run_step
from mloop.tracking.termination import Terminated
from mloop.workspace import Workspace

# step name, status, seconds (once known), the error's first line (for a failure)
Progress = Callable[[str, str, float | None, str | None], None]


@dataclass
class _State:
    node: Node
    row_id: str
    inputs: dict[str, dict[str, Any]] | None = None
    key: str = ""
    output: dict[str, Any] | None = None
    status: str = "pending"
    # Every dataset version this step's result derives from, through its upstream steps too.
    datasets: tuple[str, ...] = ()


def _resume_source(ws: Workspace, resume: str, pipeline: str) -> tuple[str, dict[str, Any]]:
    with ws.store.read() as conn:
        run_id = resolve_run_id(conn, resume)
    previous = get_run(ws.store, run_id)
    if previous.pipeline != pipeline:
        raise InvalidInput(
            f"Pipeline run {run_id} ran {previous.pipeline!r}, not {pipeline!r}; "
            f"resume it with `mloop pipeline run {previous.pipeline} --resume {run_id}`."
        )
    return run_id, previous.params


def pipeline_parameters(ws: Workspace, target: str) -> list[str]:
    """The parameter names of the pipeline ``target`` (``NAME`` or ``FILE:NAME``), its file
    loaded as ``run_pipeline`` loads it; raises ``InvalidInput``/``NotFound`` as it does."""
    path, name = split_target(target, root=ws.root, raw=ws.settings.raw)
    return list(find_pipeline(load_file(path), name, path).signature.parameters)


def run_pipeline(
    ws: Workspace,
    target: str,
    params: Mapping[str, Any] | None = None,
    *,
    no_cache: bool = False,
    resume: str | None = None,
    environ: Mapping[str, str] = os.environ,
    progress: Progress | None = None,
) -> PipelineRun:
    """Run the pipeline ``target`` (``NAME`` from ``[pipelines] file``, or ``FILE:NAME``).

    ``params`` are values or ``--param`` text, read by the pipeline's annotations; with ``resume``
    (a run id or prefix) the new run takes that run's parameters under ``params`` and reuses the
    steps it finished. A failed step does not raise: the returned run says ``failed`` with the
    step's error. ``progress(step, status, seconds, error)`` is called as each step is reused,
    started, finished or skipped. Raises ``InvalidInput``/``NotFound`` for a bad file, name,
    parameter or run.
    """
    if no_cache and resume:
        raise InvalidInput(
            "--resume reuses the finished steps of a run and --no-cache re-runs every step; "
            "give one of them."
        )
    path, name = split_target(target, root=ws.root, raw=ws.settings.raw)
    module = load_file(path)
    pipeline = find_pipeline(module, name, path)
    given: dict[str, Any] = {}
    resumed_from = None
    if resume:
        resumed_from, previous = _resume_source(ws, resume, pipeline.name)
        for key, value in previous.items():
            if key not in pipeline.signature.parameters:
                raise InvalidInput(
                    f"Run {resumed_from} was started with {key}={value!r}, a parameter pipeline "
                    f"{pipeline.name!r} no longer has; run it without --resume (its finished "
                    "steps are still reused when their code and inputs are unchanged)."
                )
        given.update(previous)
    given.update(params or {})
    values = bind_params(pipeline, given, store=ws.store, root=ws.root)
    nodes, final = pipeline.trace(values)
    settings = executor_settings(ws.settings.raw, environ)
    run_id, row_ids = start_run(
        ws.store,
        pipeline=pipeline.name,
        source=f"{path.resolve()}:{pipeline.name}",
        params=stored_params(values),
        resumed_from=resumed_from,
        executor=settings.kind,
        actor=ws.user,
        steps=[(node.name, node.position) for node in nodes],
    )
    runner = _Runner(
        ws,
        run_id=run_id,
        path=path.resolve(),
        states=[_State(node, row_ids[node.name]) for node in nodes],
        no_cache=no_cache,
        resumed_from=resumed_from,
        progress=progress,
    )
    error: str | None = None
    try:
        with ExitStack() as stack:
            error = runner.run(lambda: stack.enter_context(open_executor(settings)))
    except BaseException as exc:  # Ctrl-C, or the store went away: the run must not stay running
        end_run(ws.store, run_id, status="failed", error=_stopped_by(exc))
        runner.keep_finished()  # steps that ran on to the end while the executor shut down
        runner.skip_unfinished()
        raise
    end_run(ws.store, run_id, status="failed" if error else "succeeded", error=error)
    return get_run(ws.store, run_id, final_step=final.name if final else None)


def _stopped_by(exc: BaseException) -> str:
    """What ended the run, in words: Ctrl-C raises a KeyboardInterrupt with no message."""
    if isinstance(exc, KeyboardInterrupt):
        return "stopped: KeyboardInterrupt (Ctrl-C); `--resume` reuses the steps that finished"
    if isinstance(exc, Terminated):
        return f"stopped: {exc}; `--resume` reuses the steps that finished"
    return f"{type(exc).__name__}: {exc}"


class _Runner:
    def __init__(
        self,
        ws: Workspace,
        *,
        run_id: str,
        path: Path,
        states: list[_State],
        no_cache: bool,
        resumed_from: str | None,
        progress: Progress | None,
    ) -> None:
        self.ws = ws
        self.run_id = run_id
        self.path = path
        self.file_hash = file_hash(path)
        self.states = states
        self.by_node = {id(state.node): state for state in states}
        self.no_cache = no_cache
        self.resumed_from = resumed_from
        self.hasher = CodeHasher((path.parent,))
        self.failed: str | None = None
        self.progress = progress
        self._running: dict[Future[StepResult], _State] = {}
        self._changes: list[tuple[str, dict[str, Any]]] = []

    def _tell(self, state: _State, seconds: float | None = None, error: str | None = None) -> None:
        if self.progress is not None:
            self.progress(state.node.name, state.status, seconds, error)

    def _upstream_done(self, state: _State) -> bool | None:
        """True when every upstream step finished, None when one failed or was skipped."""
        for node in state.node.upstream:
            status = self.by_node[id(node)].status
            if status in ("failed", "skipped"):
                return None
            if status not in FINISHED:
                return False
        return True

    def _prepare(self, state: _State) -> None:
        outputs = {id(node): self.by_node[id(node)].output or {} for node in state.node.upstream}
        state.inputs = {
            name: input_record(value, outputs) for name, value in state.node.arguments.items()
        }
        found = {r["dataset"] for r in state.inputs.values() if r["kind"] == "dataset"}
        for node in state.node.upstream:
            found.update(self.by_node[id(node)].datasets)
        state.datasets = tuple(sorted(found))
        code = self.hasher.fingerprint(state.node.step)
        state.key = cache_key(code, state.inputs)

    def _reuse(self, state: _State, started: float) -> bool:
        if self.no_cache:
            return False
        with self.ws.store.read() as conn:
            row = find_cached(conn, state.key, prefer_run=self.resumed_from)
        if row is None:
            return False
        outputs = dict(row.outputs or {})
        digest = str(outputs.get("return", {}).get("hash", "")).removeprefix("blake3:")
        if not digest or not self.ws.artifacts.exists(digest):
            return False  # the blob was collected: run the step again
        state.output = outputs["return"]
        state.status = "cached"
        moment = now()
        self._changes.append(
            (
                state.row_id,
                {
                    "status": "cached",
                    "cached": True,
                    "cache_key": state.key,
                    "cached_from": row.cached_from or row.id,
                    "inputs": state.inputs,
                    "outputs": outputs,
                    "seconds": time.perf_counter() - started,
                    "started_at": moment,
                    "ended_at": moment,
                },
            )
        )
        self._tell(state, time.perf_counter() - started)
        return True

    def _task(self, state: _State) -> StepTask:
        fn = state.node.step.fn
        blobs: dict[str, dict[str, Any]] = {}
        values: dict[str, Any] = {}
        for name, value in state.node.arguments.items():
            if isinstance(value, Output):
                blobs[name] = self.by_node[id(value.node)].output or {}
            else:
                values[name] = value
        settings = self.ws.settings
        return StepTask(
            file=str(self.path),
            file_hash=self.file_hash,
            module=fn.__module__,
            qualname=state.node.step.fn.__qualname__,
            blobs=blobs,
            values=values,
            root=str(settings.root),
            store_url=settings.store_url,
            artifacts_url=settings.artifacts_url,
            env={
                "MLOOP_WORKSPACE": str(settings.root),
                "MLOOP_STORE_URL": settings.store_url,
                "MLOOP_ARTIFACTS": settings.artifacts_url,
                "MLOOP_PIPELINE_RUN": self.run_id,
                "MLOOP_PIPELINE_STEP": state.node.name,
            },
        )

    def _finish(self, state: _State, result: StepResult) -> None:
        seconds = (result.ended_at - result.started_at).total_seconds()
        values: dict[str, Any] = {
            "started_at": result.started_at,
            "ended_at": result.ended_at,
            "seconds": seconds,
        }
        if result.error is not None:
            state.status = "failed"
            self.failed = self.failed or f"step {state.node.name!r} failed: {result.error}"
            values.update(status="failed", error=f"{result.error}\n\n{result.traceback or ''}")
        else:
            assert result.output is not None
            state.status = "succeeded"
            state.output = result.output
            values.update(status="succeeded", outputs={"return": result.output})
            if result.output.get("model"):
                link_model(
                    self.ws.store,
                    model=str(result.output["model"]),
                    run_id=self.run_id,
                    step=state.node.name,
                    datasets=state.datasets,
                )
        self._changes.append((state.row_id, values))
        self._tell(state, seconds, result.error)

    def keep_finished(self) -> None:
        """Record the steps whose worker finished after the run was stopped (their outputs, and
        any model they registered, are kept and reused, not thrown away as skipped)."""
        for future, state in self._running.items():
            if state.status == "running" and future.done() and not future.cancelled():
                with suppress(Exception):
                    self._finish(state, future.result())
        update_steps(self.ws.store, self._changes)
        self._changes = []

    def skip_unfinished(self) -> None:
        changes = [
            (s.row_id, {"status": "skipped"})
            for s in self.states
            if s.status in ("pending", "running")
        ]
        for state in self.states:
            if state.status in ("pending", "running"):
                state.status = "skipped"
                self._tell(state)
        update_steps(self.ws.store, changes)

    def run(self, executor_factory: Any) -> str | None:
        executor: Executor | None = None
        running = self._running
        self._changes = []
        while True:
            progressed = True
            while progressed and self.failed is None:
                progressed = False
                for state in self.states:
                    if state.status != "pending" or self._upstream_done(state) is not True:
                        continue
                    started = time.perf_counter()
                    self._prepare(state)
                    if self._reuse(state, started):
                        progressed = True
                        continue
                    if executor is None:
                        executor = executor_factory()
                    assert executor is not None
                    state.status = "running"
                    self._changes.append(
                        (
                            state.row_id,
                            {
                                "status": "running",
                                "cache_key": state.key,
                                "inputs": state.inputs,
                                "started_at": now(),
                            },
                        )
                    )
                    running[executor.submit(run_step, self._task(state))] = state
                    self._tell(state)
            update_steps(self.ws.store, self._changes)
            self._changes = []
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                state = running.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # the worker died (killed, out of memory)
                    moment = now()
                    result = StepResult(
                        moment, moment, error=f"the worker running it died ({exc!r})"
                    )
                self._finish(state, result)
        if self.failed is not None:
            self.skip_unfinished()
        return self.failed
