"""Shadow scoring: every request also goes to the shadow model, off the request path.

``shadow_copy`` is called once the answer is ready and only starts a task: the response never
waits for it. The shadow scores in its own thread (its ``Scorer``), its answer is logged with role
``shadow`` and compared with the answer the client got, and it is never returned. When the
endpoint is busy (``ShadowGate``) the copy is skipped, counted as shed: shadow work goes first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from mloop.serving.codec import Table
from mloop.serving.scoring import Answer, records_for
from mloop.serving.state import Deployment, Scorer, Served, ServingState

log = logging.getLogger("mloop.serving")


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
        # a shadow that raised on a row is logged 500, as a canary is: its error rate counts it
        status = 500 if scores.failed else 200
        records = records_for(
            served,
            deployment,
            shadow.slot,
            "shadow",
            table,
            request_id,
            routing_key,
            latency,
            status,
            scores,
            None,
            dt.datetime.now(dt.UTC),
            scored=shadow.runner.scored_inputs(table),
        )
        slot = shadow.slot
        state.metrics.requests.labels(
            served.name, slot.model, str(slot.version), "shadow", str(status)
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
