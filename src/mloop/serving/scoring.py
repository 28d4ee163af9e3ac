"""One request's way through an endpoint: admit, route, validate, score, shadow, log, count.

Both HTTP surfaces (``/v1/.../predict`` and V2 ``infer``) parse their body into a codec ``Table``
and call ``score_request``; they differ only in how the answer is encoded. The bounds are here:
``queue`` requests in flight per endpoint (one more is a 429 with ``Retry-After``), ``timeout_s``
per request (504), and the prediction log's own backpressure (``LogFull``, a 429 too). Shadow
scoring is started after the answer is ready, as a task the response never waits for, and only
when the endpoint has room (``ShadowGate``): under load it is shed first, and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.serving.errors import ApiError, invalid_input
from mloop.serving.scores import Scores
from mloop.serving.settings import EndpointSettings
from mloop.serving.state import Deployment, Scorer, Served, ServingState

if TYPE_CHECKING:
    from mloop.endpoints.revisions import ModelSlot
    from mloop.serving.codec import Table
    from mloop.serving.runner import ModelRunner
    from mloop.workspace import Workspace

log = logging.getLogger("mloop.serving")
RETRY_AFTER_S = "1"


@dataclass
class Answer:
    scores: Scores
    role: str
    scorer: Scorer
    deployment: Deployment
    timestamp: dt.datetime
    warnings: int = 0
    unknown: list[str] = field(default_factory=list)  # columns sent that the model does not read

    @property
    def model(self) -> str:
        return self.scorer.slot.model

    @property
    def version(self) -> int:
        return self.scorer.slot.version


def prediction_ids(request_id: str, rows: int) -> list[str]:
    """The request id for a one-row request, ``REQUEST_ID:ROW`` (from 0) otherwise."""
    return [request_id] if rows == 1 else [f"{request_id}:{i}" for i in range(rows)]


def unknown_endpoint(name: str, state: ServingState) -> ApiError:
    served = ", ".join(sorted(state.endpoints)) or "none yet"
    return ApiError(
        404,
        "not_found",
        f"No endpoint named {name!r} is served here (served: {served}); "
        "`mloop endpoints ls` lists the workspace's endpoints.",
    )


def endpoint_of(state: ServingState, name: str) -> Served:
    served = state.served(name)
    if served is None:
        raise unknown_endpoint(name, state)
    return served


def not_ready(served: Served) -> ApiError:
    reason = served.health()["reason"]
    return ApiError(
        503,
        "not_ready",
        f"Endpoint {served.name!r} has no loaded model ({reason}); "
        "check `mloop endpoints show` and try again once it is ready.",
        {"endpoint": served.name, "reason": reason},
        headers={"Retry-After": RETRY_AFTER_S},
    )


async def score_request(
    state: ServingState,
    served: Served,
    table: Table,
    *,
    request_id: str,
    routing_key: str | None,
    started: float,
) -> Answer:
    deployment = served.live
    if deployment is None:
        raise not_ready(served)
    settings = served.settings
    if served.in_flight >= settings.queue:
        raise ApiError(
            429,
            "overloaded",
            f"Endpoint {served.name!r} already has {settings.queue} requests in flight; "
            f"retry after {RETRY_AFTER_S} s or raise [serving] queue.",
            None,
            headers={"Retry-After": RETRY_AFTER_S},
        )
    role, scorer = deployment.pick(routing_key, state.rng)
    served.in_flight += 1
    scorer.in_flight += 1
    gauge = state.metrics.in_flight.labels(served.name)
    gauge.inc()
    try:
        checked = await scorer.validate(table)
        violations = checked.errors
        if violations and settings.on_invalid == "reject":
            error = invalid_input(violations, rows=table.n_rows)
            state.metrics.rejected_rows.labels(served.name).inc()
            await log_failure(
                state,
                served,
                deployment,
                scorer,
                role,
                table,
                error,
                request_id,
                routing_key,
                started,
            )
            raise error
        for v in violations:
            state.metrics.validation_warnings.labels(served.name, v.column or "", v.rule).inc()
        try:
            scores = await asyncio.wait_for(scorer.score(table), settings.timeout_s)
        except TimeoutError:
            error = ApiError(
                504,
                "timeout",
                f"Endpoint {served.name!r} did not answer within {settings.timeout_s:g} s; "
                "retry, send fewer rows, or raise [serving] timeout_s.",
            )
            await log_failure(
                state,
                served,
                deployment,
                scorer,
                role,
                table,
                error,
                request_id,
                routing_key,
                started,
            )
            raise error from None
        answer = Answer(
            scores,
            role,
            scorer,
            deployment,
            dt.datetime.now(dt.UTC),
            len(violations),
            checked.unknown,
        )
        shadow_copy(state, served, deployment, table, answer, request_id, routing_key)
        await log_answer(state, served, answer, table, request_id, routing_key, started, violations)
        return answer
    finally:
        served.in_flight -= 1
        scorer.in_flight -= 1
        gauge.dec()


def _records(
    served: Served,
    deployment: Deployment,
    slot: ModelSlot,
    role: str,
    table: Table,
    request_id: str,
    routing_key: str | None,
    latency_ms: float,
    status: int,
    scores: Scores | None,
    error: str | None,
    when: dt.datetime,
) -> list[dict[str, Any]]:
    rows = table.records()
    ids = prediction_ids(request_id, len(rows))
    probabilities = None if scores is None else scores.probability_dicts()
    out = []
    for i, inputs in enumerate(rows):
        out.append(
            {
                "timestamp": when,
                "endpoint": served.name,
                "request_id": request_id,
                "prediction_id": ids[i],
                "revision": deployment.revision.number,
                "model": slot.model,
                "version": slot.version,
                "role": role,
                "routing_key": routing_key,
                "status": status,
                "latency_ms": latency_ms,
                "inputs": inputs,
                "prediction": None if scores is None else scores.predictions[i],
                "probabilities": None if probabilities is None else probabilities[i],
                "error": error if scores is None else (scores.errors[i] or error),
            }
        )
    return out


async def _submit(state: ServingState, served: Served, records: list[dict[str, Any]]) -> None:
    """Hand records to the log without blocking the event loop; wait for the disk under ``always``.

    A full queue is waited on in a worker thread (the log's own short wait), then it is a 429:
    nothing is dropped silently.
    """
    if state.log is None or not records:
        return
    from mloop.predlog import LogFull

    try:
        try:
            future = state.log.submit(served.name, records, timeout=0)
        except LogFull:
            future = await asyncio.to_thread(state.log.submit, served.name, records)
        if served.settings.log_durability == "always":
            await asyncio.wrap_future(future)
    except LogFull as exc:
        raise ApiError(
            429,
            "overloaded",
            f"The prediction log is behind ({exc.message}); retry after {RETRY_AFTER_S} s.",
            None,
            headers={"Retry-After": RETRY_AFTER_S},
        ) from None


async def log_answer(
    state: ServingState,
    served: Served,
    answer: Answer,
    table: Table,
    request_id: str,
    routing_key: str | None,
    started: float,
    violations: list[Any],
) -> None:
    latency = (time.perf_counter() - started) * 1000
    note = None if not violations else f"scored with {len(violations)} rule violation(s)"
    status = 200
    records = _records(
        served,
        answer.deployment,
        answer.scorer.slot,
        answer.role,
        table,
        request_id,
        routing_key,
        latency,
        status,
        answer.scores,
        note,
        answer.timestamp,
    )
    await _submit(state, served, records)
    slot = answer.scorer.slot
    metrics = state.metrics
    metrics.requests.labels(served.name, slot.model, str(slot.version), answer.role, "200").inc()
    metrics.latency.labels(served.name, answer.role).observe(latency / 1000)
    metrics.count_classes(
        served.name,
        slot.model,
        str(slot.version),
        answer.role,
        answer.scores.predictions,
        classifier=answer.scores.classes is not None,
    )


async def log_failure(
    state: ServingState,
    served: Served,
    deployment: Deployment,
    scorer: Scorer,
    role: str,
    table: Table,
    error: ApiError,
    request_id: str,
    routing_key: str | None,
    started: float,
) -> None:
    latency = (time.perf_counter() - started) * 1000
    records = _records(
        served,
        deployment,
        scorer.slot,
        role,
        table,
        request_id,
        routing_key,
        latency,
        error.status,
        None,
        error.message,
        dt.datetime.now(dt.UTC),
    )
    slot = scorer.slot
    state.metrics.requests.labels(
        served.name, slot.model, str(slot.version), role, str(error.status)
    ).inc()
    state.metrics.latency.labels(served.name, role).observe(latency / 1000)
    with contextlib.suppress(ApiError):  # the request is failing already; its error is the one told
        await _submit(state, served, records)


def shadow_copy(
    state: ServingState,
    served: Served,
    deployment: Deployment,
    table: Table,
    answer: Answer,
    request_id: str,
    routing_key: str | None,
) -> None:
    shadow = deployment.shadow
    if shadow is None:
        return
    if not served.shadow.admit(served.in_flight, served.settings.queue):
        state.metrics.shadow_shed.labels(served.name).inc()
        return
    shadow.in_flight += 1
    task = asyncio.create_task(
        _shadow(state, served, deployment, shadow, table, answer, request_id, routing_key)
    )
    state.background.add(task)
    task.add_done_callback(state.background.discard)


async def _shadow(
    state: ServingState,
    served: Served,
    deployment: Deployment,
    shadow: Scorer,
    table: Table,
    answer: Answer,
    request_id: str,
    routing_key: str | None,
) -> None:
    started = time.perf_counter()
    try:
        scores = await asyncio.wait_for(shadow.score(table), served.settings.timeout_s)
        same = sum(
            a == b and e is None
            for a, b, e in zip(
                scores.predictions, answer.scores.predictions, scores.errors, strict=True
            )
        )
        served.agreement[0] += same
        served.agreement[1] += len(scores)
        state.metrics.shadow_compared.labels(served.name, "agree").inc(same)
        state.metrics.shadow_compared.labels(served.name, "disagree").inc(len(scores) - same)
        latency = (time.perf_counter() - started) * 1000
        records = _records(
            served,
            deployment,
            shadow.slot,
            "shadow",
            table,
            request_id,
            routing_key,
            latency,
            200,
            scores,
            None,
            dt.datetime.now(dt.UTC),
        )
        slot = shadow.slot
        state.metrics.requests.labels(
            served.name, slot.model, str(slot.version), "shadow", "200"
        ).inc()
        state.metrics.latency.labels(served.name, "shadow").observe(latency / 1000)
        state.metrics.count_classes(
            served.name,
            slot.model,
            str(slot.version),
            "shadow",
            scores.predictions,
            classifier=scores.classes is not None,
        )
        if state.log is not None:
            state.log.submit(served.name, records, timeout=0)
    except Exception as exc:  # a shadow never fails a request; it is counted and logged
        log.warning("shadow scoring for %s failed: %s", served.name, exc)
    finally:
        shadow.in_flight -= 1
        served.shadow.done()


# -- loading ---------------------------------------------------------------------------------


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
    workspace: Workspace, slot: ModelSlot, runtime: str, settings: EndpointSettings
) -> Scorer:
    """Load (hash-verified) and warm in a worker thread, then put a batcher in front of it: the
    scorer is ready for traffic when returned."""
    from mloop.serving.batcher import Batcher

    runner = await asyncio.to_thread(load_runner, workspace, slot, runtime)
    batcher = Batcher(
        runner, max_rows=settings.batch_max_rows, max_wait_ms=settings.batch_max_wait_ms
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
