"""The closed loop: retraining policies, jobs with leases, and the agent that runs them.

``policy`` parses ``[policies.ENDPOINT]``; ``jobs`` keeps retraining jobs in the store with
leases and coalescing; ``work`` is what a job does (data → train → register → gate → rollout);
``agent`` turns schedules, alerts and new data into jobs and runs them; ``retrain`` is the
manual trigger behind ``mloop retrain``. See docs/loop.md.

The names below load on first use: ``mloop jobs ls|show`` only read ``mloop.loop.jobs``, and
importing the agent (scikit-learn and SciPy behind the gate) would double their start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mloop.loop.agent import Agent
    from mloop.loop.jobs import RetrainJob, get_job, list_jobs
    from mloop.loop.policy import Policy, load_policies, policy_for
    from mloop.loop.retrain import request_retrain, run_foreground

_WHERE = {
    "Agent": "agent",
    "Policy": "policy",
    "RetrainJob": "jobs",
    "get_job": "jobs",
    "list_jobs": "jobs",
    "load_policies": "policy",
    "policy_for": "policy",
    "request_retrain": "retrain",
    "run_foreground": "retrain",
}

__all__ = [
    "Agent",
    "Policy",
    "RetrainJob",
    "get_job",
    "list_jobs",
    "load_policies",
    "policy_for",
    "request_retrain",
    "run_foreground",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
