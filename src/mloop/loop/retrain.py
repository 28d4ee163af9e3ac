"""A manual retraining: ``mloop retrain ENDPOINT``, queued for an agent or run in the foreground.

The trigger is recorded like any other (so it coalesces into an active job, or within the
cool-down, and says which job it joined). Then, when an agent is running on the store (its
heartbeat is fresh), the job waits for it; otherwise the caller runs it here, holding the lease
the same way an agent would, so a user without an agent still gets the retraining.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mloop.errors import InvalidInput
from mloop.loop import jobs, state
from mloop.loop.policy import Policy, policy_for
from mloop.loop.runner import check_watched, new_owner, run_claimed
from mloop.loop.settings import AgentSettings, agent_settings
from mloop.loop.work import Say, check_served
from mloop.workspace import Workspace


@dataclass(frozen=True)
class Request:
    recorded: jobs.Recorded
    policy: Policy
    agents: list[str]  # the agents alive when it was recorded

    @property
    def waiting(self) -> jobs.RetrainJob | None:
        """The job to run here: this one when queued, or the one it joined when that waits
        for an agent that is not there (a foreground run that was stopped or killed)."""
        if self.agents:
            return None
        joined = self.recorded.joined
        if not self.recorded.coalesced:
            return self.recorded.job
        if joined is not None and joined.status in ("queued", "interrupted"):
            return joined
        return None


def request_retrain(ws: Workspace, endpoint: str, *, reason: str | None = None) -> Request:
    """Record a manual trigger for ``endpoint``'s policy.

    Raises ``NotFound`` when there is no policy, or when its endpoint is not deployed (the job
    would train and gate a candidate only to fail at the rollout or, with no rollout, to move
    the ``champion`` alias that other endpoints follow); ``InvalidInput`` when it has no manual
    trigger.
    """
    policy = policy_for(ws.settings.raw, endpoint)
    if not policy.triggered_by("manual"):
        raise InvalidInput(
            f'[policies.{endpoint}] has no manual trigger; add {{ kind = "manual" }} to its '
            "triggers to allow `mloop retrain`."
        )
    check_served(ws, policy)
    trigger = {"kind": "manual", "by": ws.user, **({"reason": reason} if reason else {})}
    # a job left running by a foreground retrain that was killed is not active any more
    jobs.reclaim_lapsed(ws.store)
    with ws.store.transaction() as conn:
        recorded = jobs.record_trigger_in(
            conn,
            endpoint=endpoint,
            trigger=trigger,
            cooldown=policy.cooldown,
            policy=policy.to_dict(),
            actor=ws.user,
        )
        agents = _alive(conn)
    return Request(recorded, policy, agents)


def _alive(conn: Any) -> list[str]:
    now = jobs.now_utc()
    ticking = [str(a["owner"]) for a in state.alive_agents(conn, now)]
    return list(dict.fromkeys([*ticking, *jobs.leasing_agents(conn, now)]))


def settings_of(ws: Workspace) -> AgentSettings:
    return agent_settings(ws.settings.raw)


def run_foreground(
    ws: Workspace, policy: Policy, job_id: str, *, wait: bool, say: Say
) -> jobs.RetrainJob:
    """Claim ``job_id`` and run it here; with ``wait``, watch its rollout until it is decided.

    Returns the job as it stands at the end (queued or running when an agent took it first)."""
    settings = settings_of(ws)
    owner = new_owner("retrain")
    claimed = jobs.claim(ws.store, job_id, owner=owner, lease=settings.lease)
    if claimed is None:
        return jobs.get_job(ws.store, job_id)  # an agent started meanwhile and took it
    outcome = run_claimed(ws, policy, claimed, owner=owner, settings=settings, say=say)
    if outcome.status == "watching":
        # say what happens next, truthfully: without wait nothing here watches the rollout
        say(
            "watching it until its guardrails decide"
            if wait
            else "--no-wait: returning without watching it"
        )
    while outcome.status == "watching" and wait:
        time.sleep(settings.tick)
        job = jobs.get_job(ws.store, job_id)
        if not job.watching:
            break  # an agent decided it
        outcome = check_watched(ws, job)
    return jobs.get_job(ws.store, job_id)


def agents_alive(ws: Workspace) -> list[str]:
    with ws.store.read() as conn:
        return _alive(conn)


AGENT_COMMANDS = "`mloop agent` (or `mloop serve --agent`)"


def unattended(ws: Workspace, job_id: str) -> str | None:
    """One sentence when ``job_id`` is not over and no agent is running on the store, else None.

    Only an agent drives a queued job or a watched rollout once the command that made it has
    returned (``--no-wait``, or a retrain that joined such a job): without one, the rollout
    stays live and undecided, and the job waits, however long, so the user is told.
    """
    job = jobs.get_job(ws.store, job_id)
    if job.status in jobs.ENDED or job.status == "coalesced" or agents_alive(ws):
        return None
    if job.watching:
        rollout = job.outputs.get("rollout_id")
        made = job.outputs.get("model_versions") or ["the candidate"]
        return (
            f"No agent is running, so nothing decides rollout {rollout} of {made[-1]} on "
            f"{job.endpoint!r}: it stays live, undecided, and job {job.id} waits until "
            f"{AGENT_COMMANDS} runs."
        )
    return f"No agent is running, so job {job.id} ({job.status}) waits until {AGENT_COMMANDS} runs."


def follow(ws: Workspace, policy: Policy, job_id: str, *, say: Say) -> jobs.RetrainJob:
    """Wait for an agent to end ``job_id``; run it here instead if every agent has gone."""
    settings = settings_of(ws)
    while True:
        job = jobs.get_job(ws.store, job_id)
        if job.status in jobs.ENDED:
            return job
        if job.status in ("queued", "interrupted") and not agents_alive(ws):
            say("no agent is running any more; running the job here")
            return run_foreground(ws, policy, job_id, wait=True, say=say)
        time.sleep(min(settings.tick, 1.0))
