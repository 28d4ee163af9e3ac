"""Guarded rollouts: a gated candidate goes live as a canary or shadow, and guardrails on live
traffic promote it or roll it back. docs/rollouts.md is the user's guide.

``service`` starts, checks and lists rollouts; ``config`` parses ``[policies.X.rollout]``;
``figures`` measures the candidate and the champion on the prediction log; ``verdict`` decides.
"""

from mloop.rollouts.config import (
    DEFAULT_GUARDRAILS,
    GUARDRAIL_METRICS,
    RolloutConfig,
    parse_rollout_config,
)
from mloop.rollouts.records import PROMOTED, ROLLED_BACK, WATCHING, Rollout
from mloop.rollouts.service import (
    active_rollout,
    check_rollout,
    get_rollout,
    list_rollouts,
    start_rollout,
)

__all__ = [
    "DEFAULT_GUARDRAILS",
    "GUARDRAIL_METRICS",
    "PROMOTED",
    "ROLLED_BACK",
    "WATCHING",
    "Rollout",
    "RolloutConfig",
    "active_rollout",
    "check_rollout",
    "get_rollout",
    "list_rollouts",
    "parse_rollout_config",
    "start_rollout",
]
