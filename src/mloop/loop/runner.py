"""Run one claimed job under its lease and end it the way its work ended.

Shared by the agent and by a foreground ``mloop retrain``: an error in the work ends the job
``failed`` with the error's sentence; a blocked candidate ends it ``rejected``; a live rollout
leaves it ``running`` without a lease, watched by whoever ticks next. Ctrl-C or SIGTERM releases
the job back to the queue (not an attempt that failed) and lets the signal go on.
"""

from __future__ import annotations

import os
import secrets
import socket
import traceback

from mloop.errors import MloopError
from mloop.loop import jobs
from mloop.loop.lease import Lease, LeaseLost
from mloop.loop.policy import Policy
from mloop.loop.settings import AgentSettings
from mloop.loop.work import Outcome, Say, drive_rollout, run_job
from mloop.workspace import Workspace


def new_owner(kind: str) -> str:
    """Who holds a lease: host, process and a nonce (a pid is reused after a restart)."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"


def run_claimed(
    ws: Workspace,
    policy: Policy,
    job: jobs.RetrainJob,
    *,
    owner: str,
    settings: AgentSettings,
    say: Say,
) -> Outcome:
    """Work on ``job`` (already claimed by ``owner``) and record how it ended."""
    lease = Lease(ws.store, job.id, owner=owner, lease=settings.lease, heartbeat=settings.heartbeat)
    try:
        with lease:
            outcome = run_job(ws, policy, job, lease=lease, say=say)
    except LeaseLost as exc:
        return Outcome("failed", exc.message)
    except (KeyboardInterrupt, SystemExit):
        jobs.release(
            ws.store, job.id, owner=owner, reason=f"released by {owner} when it was stopped"
        )
        raise
    except MloopError as exc:
        outcome = Outcome("failed", exc.message)
    except Exception as exc:  # the user's model code, a library: recorded, never lost
        tail = traceback.format_exception(exc)[-1].strip()
        outcome = Outcome("failed", f"{type(exc).__name__}: {exc} ({tail})")
    if outcome.status == "watching":
        jobs.watch(ws.store, job.id, owner=owner, reason=outcome.reason)
    else:
        jobs.finish(ws.store, job.id, status=outcome.status, reason=outcome.reason, owner=owner)
    return outcome


def check_watched(ws: Workspace, job: jobs.RetrainJob) -> Outcome:
    """Check a watched job's rollout once; the verdict ends the job (``check_rollout``), and a
    failure to check it, or a job the verdict could not end, is ended here (once: conditional)."""
    try:
        outcome = drive_rollout(ws, job)
    except MloopError as exc:
        outcome = Outcome("failed", exc.message)
    if outcome.status != "watching":
        jobs.finish(ws.store, job.id, status=outcome.status, reason=outcome.reason, owner=None)
    return outcome
