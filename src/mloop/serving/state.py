"""What the server holds in memory: each endpoint's loaded deployments and its readiness.

A ``Deployment`` is one endpoint revision with its models loaded and warmed. It is immutable and
replaced whole (``Served.live = new``), which is atomic on the event loop: a request reads
``live`` once and keeps that deployment to its end, so a swap never mixes two revisions in one
answer. Each ``Scorer`` counts the requests using it; one no longer named by any deployment is
retired when that count reaches zero (it drains, then its batcher closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.serving.metrics import ServingMetrics
from mloop.serving.routing import ShadowGate, goes_to_canary
from mloop.serving.settings import EndpointSettings, ServingSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mloop.endpoints.revisions import ModelSlot, Revision
    from mloop.serving.batcher import Batcher
    from mloop.serving.codec import Table
    from mloop.serving.runner import Checked, ModelRunner
    from mloop.serving.scores import Scores
    from mloop.signature import Output, Signature


RECENT_IDS = 10_000  # request ids remembered per endpoint to notice one sent again
INLINE_ROWS = 64  # validated on the event loop up to this many rows, in a thread beyond


@dataclass(eq=False)
class Scorer:
    """One model version loaded for one runtime and endpoint, behind its micro-batcher.

    The batcher scores on the model's own thread, so a shadow never competes with the primary's
    scoring and the event loop only parses, routes and answers.
    """

    slot: ModelSlot
    runtime: str
    runner: ModelRunner
    batcher: Batcher
    in_flight: int = 0
    retired: bool = False

    @property
    def signature(self) -> Signature:
        return self.runner.signature

    async def validate(self, table: Table) -> Checked:
        """The rows' rule violations (in the scoring thread when the table is large)."""
        if table.n_rows <= INLINE_ROWS:
            return self.runner.validate(table)
        return await asyncio.to_thread(self.runner.validate, table)

    async def score(self, table: Table) -> Scores:
        return await self.batcher.submit(table.columns, table.n_rows)

    async def close(self) -> None:
        await self.batcher.aclose()


@dataclass(frozen=True)
class Deployment:
    revision: Revision
    primary: Scorer
    canary: Scorer | None
    shadow: Scorer | None

    def scorers(self) -> list[Scorer]:
        return [s for s in (self.primary, self.canary, self.shadow) if s is not None]

    def pick(self, routing_key: str | None, rng: random.Random) -> tuple[str, Scorer]:
        """The role and model that answer this request."""
        if self.canary is not None and goes_to_canary(
            self.revision.canary_weight, routing_key, rng
        ):
            return "canary", self.canary
        return "primary", self.primary


@dataclass(eq=False)
class Served:
    """One endpoint in this server: what it serves now, what waits staged, and why it may not."""

    name: str
    settings: EndpointSettings
    live: Deployment | None = None
    staged: Deployment | None = None
    wanted: int | None = None  # the live revision number in the store
    problem: str | None = None  # why the wanted revision is not (fully) served
    in_flight: int = 0
    shadow: ShadowGate = field(default_factory=lambda: ShadowGate(limit=64))
    agreement: list[int] = field(default_factory=lambda: [0, 0])  # [agreed, compared]
    recent_ids: OrderedDict[str, None] = field(default_factory=OrderedDict)
    warned_reuse: bool = False

    def reuses(self, request_id: str) -> bool:
        """Whether one of the endpoint's last ``RECENT_IDS`` requests here had this id.

        Memory only, so a dict lookup per request: another worker's or an earlier run's
        requests are not seen, which is enough to tell an operator that clients reuse ids.
        """
        if request_id in self.recent_ids:
            return True
        self.recent_ids[request_id] = None
        if len(self.recent_ids) > RECENT_IDS:
            self.recent_ids.popitem(last=False)
        return False

    @property
    def ready(self) -> bool:
        return self.live is not None

    def health(self) -> dict[str, Any]:
        reason = self.problem
        if self.live is None and reason is None:
            reason = "loading its model" if self.wanted is not None else "no live revision"
        return {
            "ready": self.ready,
            "revision": None if self.live is None else self.live.revision.number,
            "reason": reason,
        }


@dataclass(eq=False)
class ServingState:
    settings: ServingSettings
    metrics: ServingMetrics = field(default_factory=ServingMetrics)
    endpoints: dict[str, Served] = field(default_factory=dict)
    log: Any = None  # mloop.predlog.PredictionLog, per durability: see ``logs``
    logs: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    background: set[asyncio.Task[None]] = field(default_factory=set)  # shadow scorings
    # Set by the server: starts the poller on startup, drains and closes the log on shutdown.
    on_startup: Callable[[], Any] | None = None
    on_shutdown: Callable[[], Any] | None = None
    # Set by the server: a logged model version's signature output, from the registry, so the
    # feedback route knows the classes of versions no longer loaded (called in a thread).
    output_of: Callable[[str, int], Output | None] | None = None

    def served(self, name: str) -> Served | None:
        return self.endpoints.get(name)

    def health(self) -> dict[str, dict[str, Any]]:
        return {name: served.health() for name, served in sorted(self.endpoints.items())}

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        if self.on_startup is not None:
            result = self.on_startup()
            if asyncio.iscoroutine(result):
                await result
        try:
            yield
        finally:
            if self.on_shutdown is not None:
                result = self.on_shutdown()
                if asyncio.iscoroutine(result):
                    await result
