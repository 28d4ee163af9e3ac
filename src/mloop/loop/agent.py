"""The agent: each tick it re-reads the policies, turns what happened into jobs and runs them.

A tick, in order:

1. re-read mloop.toml when its modification time changed (a bad edit keeps the last good
   policies, with one logged sentence), and hold the triggers of a policy whose endpoint is not
   deployed (said once; taken up again when it is);
2. run the declared monitors every ``[agent] monitor_every`` (so alerts appear without a cron job);
3. scan for triggers in one transaction: due cron ticks (UTC), new alerts matching a policy,
   new versions of a watched dataset; each is recorded as a job (or coalesced into the active one)
   and the scan position saved in ``agent_state``, so a restart neither misses nor repeats one
   (cron ticks missed while no agent ran fire once);
4. mark jobs whose lease lapsed interrupted (retried once) or failed;
5. check watched rollouts and end their jobs when they are decided;
6. claim queued jobs and run them, one at a time, under a renewed lease.

Any number of agents may run on one store: every claim and every end is a conditional update,
so a job runs once. Every event is one line through ``log``.
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mloop.config import CONFIG_FILE, load_settings
from mloop.data.datasets import list_datasets
from mloop.data.refs import did_you_mean
from mloop.errors import MloopError
from mloop.loop import jobs, state
from mloop.loop.cron import due
from mloop.loop.policy import Policy, load_policies
from mloop.loop.runner import check_watched, new_owner, run_claimed
from mloop.loop.settings import AgentSettings, agent_settings
from mloop.loop.work import unserved_policy
from mloop.store import tables as t
from mloop.workspace import Workspace

Log = Callable[[str], None]
FIRST_ALERT_LOOKBACK = dt.timedelta(hours=24)  # a first start reacts to the last day's alerts
_SCAN_LOCK = zlib.crc32(b"mloop.agent.scan")


class Agent:
    def __init__(
        self, ws: Workspace, *, log: Log, owner: str | None = None, tick: float | None = None
    ) -> None:
        self.ws = ws
        self._tick = tick  # --tick wins over [agent] tick
        self.log = log
        self.owner = owner or new_owner("agent")
        self.policies: dict[str, Policy] = {}
        self.settings = AgentSettings()
        self._mtime: float | None = None
        self.held: set[str] = set()  # policies whose endpoint is not deployed: no jobs for them
        self.reload(first=True)

    # -- configuration ---------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.ws.root / CONFIG_FILE

    def reload(self, *, first: bool = False) -> None:
        """Re-read mloop.toml when it changed; a bad edit keeps the last good configuration."""
        try:
            mtime = self.config_path.stat().st_mtime
        except OSError:
            mtime = None
        if not first and mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            settings = load_settings(self.ws.root)
            policies = load_policies(settings.raw)
            agent = agent_settings(settings.raw)
        except MloopError as exc:
            if first:
                raise
            self.log(f"config: {exc.message} Keeping the last good configuration.")
            return
        # the store and artifacts stay open; the gates and the rest of the file are the new ones
        self.ws = Workspace(settings, self.ws.store, self.ws.artifacts)
        self.policies, self.settings = policies, agent
        if not first:
            self.log(f"config: reloaded {CONFIG_FILE} ({len(policies)} policies)")
        self.held = set()
        self.check_served()
        self._note_unknown_datasets()

    def check_served(self) -> None:
        """Hold the triggers of a policy whose endpoint is not deployed, and take them up again
        once it is; said once each way (and again when mloop.toml is re-read).

        Every job of such a policy would fail the same way before training
        (``work.check_served``), one per cron match, alert or dataset version, burying the
        jobs that matter. Held triggers are still marked seen, so a deploy does not replay them:
        the policy starts from its next trigger. One query of endpoint names per tick.
        """
        from mloop.endpoints.service import endpoint_names

        names = endpoint_names(self.ws.store)
        for endpoint in self.policies:
            problem = unserved_policy(self.ws, endpoint, names)
            if problem is not None and endpoint not in self.held:
                self.held.add(endpoint)
                self.log(f"config: {problem} Until then the agent records no job for its triggers.")
            elif problem is None and endpoint in self.held:
                self.held.discard(endpoint)
                self.log(
                    f"config: endpoint {endpoint!r} is deployed now; [policies.{endpoint}] "
                    "records jobs for its triggers again."
                )

    def _note_unknown_datasets(self) -> None:
        """A dataset trigger may name a dataset not added yet (it fires on its first version),
        but a misspelt one would wait forever in silence: say which names are not found."""
        watched = [
            (policy.endpoint, trigger.dataset)
            for policy in self.policies.values()
            for trigger in policy.triggered_by("dataset")
            if trigger.dataset
        ]
        if not watched:
            return
        known = [summary.name for summary in list_datasets(self.ws.store)]
        for endpoint, name in watched:
            if name not in known:
                hint = did_you_mean(name, known)
                self.log(
                    f"config: [policies.{endpoint}] watches dataset {name!r}, which has no "
                    "version yet; it triggers when one is added"
                    + (f" ({hint})" if hint else "")
                    + "."
                )

    @property
    def tick_seconds(self) -> float:
        return self._tick or self.settings.tick

    # -- triggers --------------------------------------------------------------------------

    def _record(
        self, conn: sa.Connection, policy: Policy, trigger: dict[str, Any], now: dt.datetime
    ) -> None:
        if policy.endpoint in self.held:
            return
        recorded = jobs.record_trigger_in(
            conn,
            endpoint=policy.endpoint,
            trigger={**trigger, "by": self.owner},
            cooldown=policy.cooldown,
            policy=policy.to_dict(),
            actor=self.ws.user,
            now=now,
        )
        what = " ".join(f"{k}={v}" for k, v in trigger.items() if k != "kind")
        if recorded.coalesced:
            self.log(
                f"trigger {trigger['kind']} {what} on {policy.endpoint}: job {recorded.job.id} coalesced ({recorded.job.reason})"
            )
        else:
            self.log(
                f"trigger {trigger['kind']} {what} on {policy.endpoint}: job {recorded.job.id} queued"
            )

    def _schedules(self, conn: sa.Connection, policy: Policy, now: dt.datetime) -> None:
        for index, trigger in enumerate(policy.triggers):
            if trigger.kind != "schedule" or trigger.cron is None:
                continue
            key = f"schedule:{policy.endpoint}:{index}"
            seen = state.get(conn, key)
            if seen is not None and seen.get("cron") == trigger.cron:
                last = dt.datetime.fromisoformat(seen["last"])
                tick = due(trigger.cron, last, now)
                if tick is not None:
                    self._record(
                        conn,
                        policy,
                        {"kind": "schedule", "cron": trigger.cron, "due": tick.isoformat()},
                        now,
                    )
            # a new cron (or a first start) counts from now: nothing before it was scheduled
            state.put(conn, key, {"cron": trigger.cron, "last": now.isoformat()}, now)

    def _alerts(self, conn: sa.Connection, policy: Policy, now: dt.datetime) -> None:
        wanted = [trigger.alert for trigger in policy.triggered_by("alert")]
        if not wanted:
            return
        key = f"alerts:{policy.endpoint}"
        seen = state.get(conn, key)
        where = [t.alerts.c.endpoint == policy.endpoint]
        if seen is not None and seen.get("id"):
            where.append(t.alerts.c.id > seen["id"])
        elif seen is None:
            where.append(t.alerts.c.created_at >= now - FIRST_ALERT_LOOKBACK)
        rows = conn.execute(sa.select(t.alerts).where(*where).order_by(t.alerts.c.id)).all()
        for row in rows:
            if row.kind in wanted or row.metric in wanted:
                trigger = {
                    "kind": "alert",
                    "alert": row.kind,
                    "alert_id": row.id,
                    "metric": row.metric,
                }
                self._record(conn, policy, trigger, now)
        newest = rows[-1].id if rows else (seen or {}).get("id")
        state.put(conn, key, {"id": newest}, now)

    def _datasets(self, conn: sa.Connection, policy: Policy, now: dt.datetime) -> None:
        for trigger in policy.triggered_by("dataset"):
            key = f"dataset:{policy.endpoint}:{trigger.dataset}"
            newest = conn.execute(
                sa.select(sa.func.max(t.dataset_versions.c.version))
                .select_from(t.dataset_versions.join(t.datasets))
                .where(t.datasets.c.name == trigger.dataset)
            ).scalar()
            seen = state.get(conn, key)
            if seen is not None and newest is not None and newest > int(seen.get("version") or 0):
                ref = f"{trigger.dataset}@{newest}"
                self._record(
                    conn,
                    policy,
                    {"kind": "dataset", "dataset": trigger.dataset, "version": ref},
                    now,
                )
            state.put(conn, key, {"version": newest}, now)

    def scan(self, now: dt.datetime) -> None:
        """Turn due schedules, new alerts and new dataset versions into jobs, in one transaction."""
        with self.ws.store.transaction() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCAN_LOCK})
            state.put(conn, f"agent:{self.owner}", {"tick": self.tick_seconds}, now)
            for policy in self.policies.values():
                self._schedules(conn, policy, now)
                self._alerts(conn, policy, now)
                self._datasets(conn, policy, now)

    # -- monitors --------------------------------------------------------------------------

    def monitor(self, now: dt.datetime) -> None:
        every = self.settings.monitor_every
        if every is None:
            return
        from mloop.monitoring.monitor import evaluate

        for endpoint in [name for name in self.policies if name not in self.held]:
            key = f"monitor:{endpoint}"
            with self.ws.store.read() as conn:
                seen = state.get(conn, key)
            if seen is not None and now - dt.datetime.fromisoformat(seen["at"]) < every:
                continue
            with self.ws.store.transaction() as conn:
                state.put(conn, key, {"at": now.isoformat()}, now)
            try:
                result = evaluate(self.ws, endpoint, now=now)
            except MloopError as exc:
                self.log(f"monitor {endpoint}: {exc.message}")
                continue
            alerts = getattr(result, "alerts", None) or []
            self.log(f"monitor {endpoint}: {len(alerts)} new alert(s)")

    # -- jobs ------------------------------------------------------------------------------

    def reclaim(self, now: dt.datetime) -> None:
        for job in jobs.reclaim_lapsed(self.ws.store, now=now):
            self.log(f"job {job.id} on {job.endpoint}: {job.status}: {job.reason}")

    def watch(self) -> None:
        """Check every rollout being watched: a job's (ending the job when decided), and one a
        person started with `mloop rollouts start`."""
        from mloop.rollouts import check_rollout

        watched = jobs.watched(self.ws.store)
        for job in watched:
            outcome = check_watched(self.ws, job)
            if outcome.status != "watching":
                self.log(f"job {job.id} on {job.endpoint}: {outcome.status}: {outcome.reason}")
        with self.ws.store.read() as conn:
            others = conn.execute(
                sa.select(t.rollouts.c.id, t.rollouts.c.endpoint).where(
                    t.rollouts.c.status == "watching",
                    t.rollouts.c.job_id.is_(None),
                )
            ).all()
        for row in others:
            try:
                rollout = check_rollout(self.ws, row.id)
            except MloopError as exc:
                self.log(f"rollout {row.id} on {row.endpoint}: {exc.message}")
                continue
            if rollout.status != "watching":
                self.log(f"rollout {row.id} on {row.endpoint}: {rollout.status}: {rollout.reason}")

    def run_queued(self) -> int:
        """Claim and run every waiting job this agent wins; returns how many it ran."""
        ran = 0
        for job in jobs.claimable(self.ws.store):
            claimed = jobs.claim(self.ws.store, job.id, owner=self.owner, lease=self.settings.lease)
            if claimed is None:
                continue  # another agent won it
            policy = self.policies.get(claimed.endpoint)
            self.log(
                f"job {claimed.id} on {claimed.endpoint}: running (attempt {claimed.attempts})"
            )
            if policy is None:
                reason = f"mloop.toml has no [policies.{claimed.endpoint}] any more; nothing to run"
                jobs.finish(
                    self.ws.store, claimed.id, status="failed", reason=reason, owner=self.owner
                )
                self.log(f"job {claimed.id} on {claimed.endpoint}: failed: {reason}")
                continue

            def say(message: str, job_id: str = claimed.id) -> None:
                self.log(f"job {job_id}: {message}")

            outcome = run_claimed(
                self.ws, policy, claimed, owner=self.owner, settings=self.settings, say=say
            )
            self.log(f"job {claimed.id} on {claimed.endpoint}: {outcome.status}: {outcome.reason}")
            ran += 1
        return ran

    # -- the loop --------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> None:
        self.reload()
        self.check_served()
        now = now or jobs.now_utc()
        self.monitor(now)
        self.scan(now)
        self.reclaim(jobs.now_utc())
        self.watch()
        self.run_queued()

    def stop(self) -> None:
        """Forget this agent's heartbeat, so ``mloop retrain`` stops counting on it at once."""
        with self.ws.store.transaction() as conn:
            state.delete(conn, f"agent:{self.owner}")

    def run(self, *, once: bool = False) -> None:
        """Tick until stopped (Ctrl-C, SIGTERM: the current job's lease is released first)."""
        self.log(f"agent {self.owner} started on {self.ws.root} ({len(self.policies)} policies)")
        try:
            while True:
                started = time.monotonic()
                try:
                    self.tick()
                except MloopError as exc:
                    self.log(f"tick: {exc.message}")
                except sa.exc.OperationalError as exc:  # the store went away for a moment
                    self.log(
                        f"tick: the store did not answer ({str(exc.orig or exc).splitlines()[0]}); trying again"
                    )
                except Exception as exc:  # a durable agent logs what broke a tick and goes on
                    self.log(
                        f"tick: unexpected {type(exc).__name__}: {exc}; trying again next tick"
                    )
                if once:
                    return
                pause = self.tick_seconds - (time.monotonic() - started)
                if pause > 0:
                    time.sleep(pause)
        finally:
            try:
                self.stop()
            finally:
                self.log(f"agent {self.owner} stopped")
