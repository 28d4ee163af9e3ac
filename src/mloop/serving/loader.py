"""Following the store: load and warm what a revision names, then swap it in; drain the old.

The poller runs on the event loop; every blocking step (the store queries, reading and verifying
a model blob, warming it) runs in a worker thread, so requests keep being answered meanwhile.
A deployment is built completely (each model hash-verified, loaded, warmed on its input example)
before ``Served.live`` points at it, and models shared by the old and new revision (a weight
change, a switch to a staged revision already loaded) are reused, not reloaded. A model that
cannot load (missing, tampered, untrusted, unreadable, or any other failure) leaves its endpoint
as it was, with the reason shown; the other endpoints are not affected, and the load is retried
every few seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from mloop.errors import MloopError
from mloop.serving.errors import ApiError
from mloop.serving.routing import ShadowGate
from mloop.serving.state import Deployment, Scorer, Served, ServingState
from mloop.workspace import Workspace

if TYPE_CHECKING:
    from mloop.endpoints.revisions import EndpointState, ModelSlot, Revision

log = logging.getLogger("mloop.serving")
RETRY_S = 5.0


class Loader:
    def __init__(self, workspace: Workspace, state: ServingState, *, url: str, pid: int) -> None:
        self.workspace = workspace
        self.state = state
        self.url = url
        self.pid = pid
        self.token: str | None = None
        self.cache: dict[tuple[str, str, str], Scorer] = {}
        self.retry_at = 0.0
        self.draining: set[asyncio.Task[None]] = set()

    # -- reading the store -------------------------------------------------------------------

    def _snapshot(self) -> tuple[str, list[EndpointState]]:
        from mloop.endpoints.service import serving_snapshot

        return serving_snapshot(self.workspace.store)

    def _follow(self) -> None:
        from mloop.endpoints import service

        follow = getattr(service, "follow_aliases", None)
        if follow is not None:
            follow(self.workspace.store, actor=self.workspace.user)

    def discover(self) -> list[str]:
        """The endpoints to serve, read once before the server starts (for its banner)."""
        _token, states = self._snapshot()
        for endpoint in states:
            self._served(endpoint)
        return sorted(self.state.endpoints)

    def _served(self, endpoint: EndpointState) -> Served:
        served = self.state.endpoints.get(endpoint.name)
        if served is None:
            settings = self.state.settings.for_endpoint(endpoint.name)
            served = Served(endpoint.name, settings, shadow=ShadowGate(limit=settings.queue))
            self.state.endpoints[endpoint.name] = served
            if self.state.log is not None:  # deployed while serving: its own log durability
                self.state.log.set_durability(endpoint.name, settings.log_durability)
        served.wanted = None if endpoint.live is None else endpoint.live.number
        return served

    # -- the poll loop -----------------------------------------------------------------------

    async def run(self, every_s: float) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is away for a moment: keep serving, say why
                log.warning("reading the endpoints failed (%s); retrying", exc)
            await asyncio.sleep(every_s)

    async def poll(self) -> None:
        await asyncio.to_thread(self._follow)
        token, states = await asyncio.to_thread(self._snapshot)
        retry = any(s.problem for s in self.state.endpoints.values()) and (
            time.monotonic() >= self.retry_at
        )
        if token == self.token and not retry:
            return
        await self.reconcile(states)
        self.token = token

    async def reconcile(self, states: list[EndpointState]) -> None:
        present = {s.name for s in states}
        gone = [n for n in self.state.endpoints if n not in present]
        for name in gone:
            del self.state.endpoints[name]  # deleted: its requests now get 404
            self.state.metrics.ready.labels(name).set(0)
        if gone:
            await asyncio.to_thread(self._forget, gone)
        for endpoint in states:
            served = self._served(endpoint)
            # the old problem stays said until this pass knows better: requests and the status
            # file read ``problem`` while the loads below run in a thread
            problems: list[str] = []
            live = await self._deployment(served, endpoint.live, served.live, problems)
            if live is not served.live:
                served.live = live
                self.state.metrics.revision.labels(served.name).set(
                    0 if live is None else live.revision.number
                )
            served.staged = await self._deployment(served, endpoint.staged, served.staged, problems)
            served.problem = "; ".join(problems) or None
            self.state.metrics.ready.labels(served.name).set(1 if served.ready else 0)
        self._retire_unused()
        if any(s.problem for s in self.state.endpoints.values()):
            self.retry_at = time.monotonic() + RETRY_S

    async def _deployment(
        self,
        served: Served,
        revision: Revision | None,
        current: Deployment | None,
        problems: list[str],
    ) -> Deployment | None:
        """``revision`` loaded, or ``current`` kept when it cannot load (the reason goes to
        ``problems``)."""
        if revision is None:
            return None
        if current is not None and current.revision.id == revision.id:
            return current
        try:
            scorers = {
                role: await self._scorer(served, slot, revision.runtime)
                for role, slot in revision.slots().items()
            }
        except Exception as exc:  # whatever fails to load is this endpoint's problem alone
            expected = isinstance(exc, MloopError | ApiError)
            why = str(exc) if expected else f"{type(exc).__name__}: {exc}"
            which = "staged revision" if revision.staged else "revision"
            problems.append(f"{which} {revision.number} cannot load: {why}")
            log.warning("endpoint %s: %s", served.name, problems[-1], exc_info=not expected)
            return current
        return Deployment(
            revision=revision,
            primary=scorers["primary"],
            canary=scorers.get("canary"),
            shadow=scorers.get("shadow"),
        )

    async def _scorer(self, served: Served, slot: ModelSlot, runtime: str) -> Scorer:
        key = (served.name, slot.version_id, runtime)  # an endpoint's bounds are its own
        found = self.cache.get(key)
        if found is not None and not found.retired:
            return found
        from mloop.serving.loading import load_scorer

        scorer = await load_scorer(self.workspace, served.name, slot, runtime, self.state)
        self.cache[key] = scorer
        return scorer

    def _retire_unused(self) -> None:
        used = {
            id(scorer)
            for served in self.state.endpoints.values()
            for deployment in (served.live, served.staged)
            if deployment is not None
            for scorer in deployment.scorers()
        }
        for key, scorer in list(self.cache.items()):
            if id(scorer) not in used:
                del self.cache[key]
                scorer.retired = True
                task = asyncio.create_task(self._drain(scorer))
                self.draining.add(task)
                task.add_done_callback(self.draining.discard)

    async def _drain(self, scorer: Scorer) -> None:
        """Wait for the requests still using ``scorer``, then close its batcher."""
        while scorer.in_flight > 0:
            await asyncio.sleep(0.01)
        await scorer.close()

    # -- status files and shutdown -------------------------------------------------------------

    async def report(self, every_s: float) -> None:
        while True:
            try:
                await asyncio.to_thread(self.write_status)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("writing the status files failed: %s", exc)
            await asyncio.sleep(every_s)

    def write_status(self) -> None:
        from mloop.endpoints.status import EndpointStatus, status_folder, write_status

        folder = status_folder(self.workspace.root)
        now = dt.datetime.now(dt.UTC)
        for served in list(self.state.endpoints.values()):
            health = served.health()
            agreed, compared = served.agreement
            write_status(
                folder,
                EndpointStatus(
                    endpoint=served.name,
                    pid=self.pid,
                    url=self.url,
                    updated_at=now,
                    ready=health["ready"],
                    reason=health["reason"],
                    revision=health["revision"],
                    shadow_compared=compared,
                    shadow_agreed=agreed,
                    extra={
                        "staged_revision": None
                        if served.staged is None
                        else served.staged.revision.number,
                        "shadow_shed": served.shadow.shed,
                        "in_flight": served.in_flight,
                    },
                ),
            )

    def remove_status(self) -> None:
        self._forget(list(self.state.endpoints))

    def _forget(self, names: list[str]) -> None:
        from mloop.endpoints.status import remove_status, status_folder

        for name in names:
            remove_status(status_folder(self.workspace.root), name)

    def open_logs(self) -> None:
        from mloop.serving.loading import open_logs

        open_logs(self.workspace, self.state)

    async def close(self) -> None:
        """After uvicorn answered the in-flight requests: drain, flush and close the log."""
        for served in self.state.endpoints.values():
            served.live = served.staged = None
        self._retire_unused()
        await asyncio.gather(*self.draining, return_exceptions=True)
        from mloop.serving.loading import close_logs

        await asyncio.to_thread(close_logs, self.state)
        await asyncio.to_thread(self.remove_status)
