"""The closed loop: retraining policies, jobs with leases, and the agent that runs them.

``policy`` parses ``[policies.ENDPOINT]``; ``jobs`` keeps retraining jobs in the store with
leases and coalescing; ``work`` is what a job does (data → train → register → gate → rollout);
``agent`` turns schedules, alerts and new data into jobs and runs them; ``retrain`` is the
manual trigger behind ``mloop retrain``. See docs/loop.md.
"""

from mloop.loop.agent import Agent
from mloop.loop.jobs import RetrainJob, get_job, list_jobs
from mloop.loop.policy import Policy, load_policies, policy_for
from mloop.loop.retrain import request_retrain, run_foreground

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
