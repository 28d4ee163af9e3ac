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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.serving.errors import ApiError, invalid_input
from mloop.serving.scores import Scores
from mloop.serving.state import Deployment, Scorer, Served, ServingState

if TYPE_CHECKING:
    from mloop.data.violations import FieldError
    from mloop.endpoints.revisions import ModelSlot
    from mloop.serving.codec import Table

log = logging.getLogger("mloop.serving")
RETRY_AFTER_S = "1"
VIOLATIONS_HEADER = "X-Rule-Violations"


@dataclass
class Answer:
    scores: Scores
    role: str
    scorer: Scorer
    deployment: Deployment
    timestamp: dt.datetime
    violation_rows: int = 0  # rows scored despite breaking a rule (on_invalid = "warn")
    unknown: list[str] = field(default_factory=list)  # columns sent that the model does not read

    @property
    def headers(self) -> dict[str, str]:
        """Response headers every route adds: under ``on_invalid = "warn"`` the body of a 200 is
        unchanged, so only ``X-Rule-Violations`` tells the client its rows broke rules."""
        if not self.violation_rows:
            return {}
        return {VIOLATIONS_HEADER: str(self.violation_rows)}

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


@contextlib.contextmanager
def admitted(state: ServingState, served: Served) -> Iterator[None]:
    """Hold one of the endpoint's ``queue`` places from before the body is read to the answer.

    Taken before reading, so however many clients connect, at most ``queue`` bodies (each at
    most ``max_body_bytes``) are held per endpoint; one more is refused at once: 429.
    """
    if served.live is None:
        state.metrics.requests.labels(served.name, "", "", "", "503").inc()
        raise not_ready(served)
    queue = served.settings.queue
    if served.in_flight >= queue:
        state.metrics.requests.labels(served.name, "", "", "", "429").inc()
        raise ApiError(
            429,
            "overloaded",
            f"Endpoint {served.name!r} already has {queue} requests in flight; "
            f"retry after {RETRY_AFTER_S} s or raise [serving] queue.",
            None,
            headers={"Retry-After": RETRY_AFTER_S},
        )
    served.in_flight += 1
    gauge = state.metrics.in_flight.labels(served.name)
    gauge.inc()
    try:
        yield
    finally:
        served.in_flight -= 1
        gauge.dec()


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
        state.metrics.requests.labels(served.name, "", "", "", "503").inc()
        raise not_ready(served)
    if served.reuses(request_id):
        _reused(state, served, request_id)
    role, scorer = deployment.pick(routing_key, state.rng)
    if role == "canary":
        answer = await _score_as(
            state, served, deployment, role, scorer, table, request_id, routing_key, started
        )
        if answer is not None:
            return answer
        role, scorer = "primary", deployment.primary  # the canary raised: the champion answers
    answer = await _score_as(
        state, served, deployment, role, scorer, table, request_id, routing_key, started
    )
    assert answer is not None  # only a canary gives way
    return answer


def _reused(state: ServingState, served: Served, request_id: str) -> None:
    """Count a request whose id an earlier one had, and say so once per endpoint: labels join
    by id, so a client sending one id for every request labels only its newest prediction."""
    state.metrics.reused_ids.labels(served.name).inc()
    if not served.warned_reuse:
        served.warned_reuse = True
        log.warning(
            "endpoint %s: request id %r was sent again; a label for a reused id counts once, "
            "against its newest answer (mloop_request_ids_reused counts them). Send a new "
            "X-Request-ID per request, and the same one only for a retry.",
            served.name,
            request_id,
        )


async def _score_as(
    state: ServingState,
    served: Served,
    deployment: Deployment,
    role: str,
    scorer: Scorer,
    table: Table,
    request_id: str,
    routing_key: str | None,
    started: float,
) -> Answer | None:
    """Score the request with ``scorer`` in ``role``; None when a canary raised on it (or did
    not answer within ``timeout_s``).

    A canary that fails on any row of a request answers none of it: its records are logged with
    status 500 (so the canary's error rate counts them, and guardrails see it) and the caller
    asks the primary, whose answer the client gets. A failing primary answers as before: the
    rows it could not score carry their error.
    """
    settings = served.settings

    async def failed(error: ApiError) -> None:
        await log_failure(
            state, served, deployment, scorer, role, table, error, request_id, routing_key, started
        )

    scorer.in_flight += 1
    try:
        checked = await scorer.validate(table)
        violations = checked.errors
        if violations and settings.on_invalid == "reject":
            error = invalid_input(violations, rows=table.n_rows)
            state.metrics.rejected_rows.labels(served.name).inc()
            await failed(error)
            raise error
        for v in [*violations, *checked.warnings]:  # scored anyway: counted, and logged below
            state.metrics.validation_warnings.labels(served.name, v.column or "", v.rule).inc()
        try:
            scores = await asyncio.wait_for(scorer.score(table), settings.timeout_s)
        except TimeoutError:
            if role == "canary":  # a canary too slow to answer gives way, as one that raised
                await failed(
                    ApiError(
                        504,
                        "timeout",
                        f"the canary did not answer within {settings.timeout_s:g} s, "
                        "the primary answered",
                    )
                )
                return None
            error = ApiError(
                504,
                "timeout",
                f"Endpoint {served.name!r} did not answer within {settings.timeout_s:g} s; "
                "retry, send fewer rows, or raise [serving] timeout_s.",
            )
            await failed(error)
            raise error from None
        if role == "canary" and scores.failed:
            first = next(e for e in scores.errors if e is not None)
            await failed(
                ApiError(500, "internal", f"the canary failed, the primary answered: {first}")
            )
            return None
        answer = Answer(
            scores,
            role,
            scorer,
            deployment,
            dt.datetime.now(dt.UTC),
            rows_breaking(violations, table.n_rows),
            checked.unknown,
        )
        from mloop.serving.shadow import shadow_copy

        shadow_copy(state, served, deployment, table, answer, request_id, routing_key)
        await log_answer(state, served, answer, table, request_id, routing_key, started, violations)
        return answer
    finally:
        scorer.in_flight -= 1


def records_for(
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
    notes: Mapping[int, str] | None = None,
    scored: Mapping[str, list[Any]] | None = None,
) -> list[dict[str, Any]]:
    """One log record per row; ``notes`` adds a row's own remark (by 0-based row) to ``error``.

    ``scored`` replaces input columns by the values the model scored (``ModelRunner
    .scored_inputs``): the log keeps what the model saw, so ``"72"`` sent for a number does not
    turn the log's column into text. A request refused for its inputs passes none: those are
    kept as sent (``refused_inputs``), being what it was refused for.
    """
    rows = table.records()
    ids = prediction_ids(request_id, len(rows))
    probabilities = None if scores is None else scores.probability_dicts()
    out = []
    for i, inputs in enumerate(rows):
        if scored:  # new dicts: the request's own rows are the table's, shared with the shadow
            inputs = {**inputs, **{name: values[i] for name, values in scored.items()}}
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
                "error": _joined(
                    error if scores is None else (scores.errors[i] or error),
                    None if notes is None else notes.get(i),
                ),
            }
        )
    return out


def rows_breaking(violations: list[FieldError], n_rows: int) -> int:
    """How many rows break a rule; a violation without a row (a column missing from every
    row) is broken by all of them."""
    if not violations:
        return 0
    if any(v.row is None for v in violations):
        return n_rows
    return len({v.row for v in violations})


def _joined(first: str | None, second: str | None) -> str | None:
    return first if not second else second if not first else f"{first}; {second}"


def violation_notes(violations: list[FieldError]) -> tuple[str | None, dict[int, str]]:
    """Rule violations scored anyway (``on_invalid = "warn"``) as log remarks: one for the whole
    request (checks without a row) and one per row, by 0-based row."""
    per_row: dict[int, list[str]] = {}
    general: list[str] = []
    for v in violations:
        text = f"{v.column} {v.rule}: {v.message}"
        if v.row is None:
            general.append(text)
        else:
            per_row.setdefault(v.row - 1, []).append(text)
    overall = None if not general else "scored despite " + "; ".join(general)
    return overall, {row: "scored despite " + "; ".join(texts) for row, texts in per_row.items()}


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
    violations: list[FieldError],
) -> None:
    latency = (time.perf_counter() - started) * 1000
    note, notes = violation_notes(violations)
    status = 200
    records = records_for(
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
        notes,
        answer.scorer.runner.scored_inputs(table),
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
    records = records_for(
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
        # a 4xx was refused for its inputs: kept as sent; a 5xx or 504 was accepted, converted
        scored=None if 400 <= error.status < 500 else scorer.runner.scored_inputs(table),
    )
    slot = scorer.slot
    state.metrics.requests.labels(
        served.name, slot.model, str(slot.version), role, str(error.status)
    ).inc()
    state.metrics.latency.labels(served.name, role).observe(latency / 1000)
    with contextlib.suppress(ApiError):  # the request is failing already; its error is the one told
        await _submit(state, served, records)
