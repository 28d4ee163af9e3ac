"""``[policies.X.rollout]`` parsed into a ``RolloutConfig``: the issue's example reads as written,
and every bad key or value is refused with ``where.KEY`` and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from mloop.errors import InvalidInput
from mloop.rollouts import DEFAULT_GUARDRAILS, RolloutConfig, parse_rollout_config

WHERE = "policies.churn.rollout"


def test_the_issue_example_parses_as_written() -> None:
    table = {
        "strategy": "canary",
        "weight": 20,
        "min_sample": 200,
        "watch": "10m",
        "guardrails": [
            "error_rate <= 0.01",
            "rejection_rate <= 0.05",
            "latency_p99_ms <= 50",
            "prediction_drift <= 0.2",
            "realised.roc_auc >= 0.75",
        ],
    }
    config = parse_rollout_config(table, WHERE)
    assert config == RolloutConfig(
        strategy="canary",
        weight=20,
        min_sample=200,
        watch_seconds=600.0,
        guardrails=tuple(table["guardrails"]),
    )
    assert [str(t) for t in config.thresholds()][-1] == "realised.roc_auc >= 0.75"


def test_an_empty_table_gives_the_defaults() -> None:
    config = parse_rollout_config({}, WHERE)
    assert config == RolloutConfig()
    assert config.guardrails == DEFAULT_GUARDRAILS
    shadow = parse_rollout_config({"strategy": "shadow", "watch": "30s"}, WHERE)
    assert (shadow.strategy, shadow.watch_seconds) == ("shadow", 30.0)


@pytest.mark.parametrize(
    ("table", "key", "fix"),
    [
        ({"stratgy": "canary"}, "stratgy", "the keys are strategy, weight"),
        ({"strategy": "blue-green"}, "strategy", '"canary" or "shadow"'),
        ({"weight": 0}, "weight", "from 1 to 99"),
        ({"weight": 100}, "weight", "from 1 to 99"),
        ({"weight": "20"}, "weight", "whole number"),
        ({"weight": True}, "weight", "whole number"),
        ({"min_sample": 0}, "min_sample", "1 or more"),
        ({"min_sample": 2.5}, "min_sample", "whole number"),
        ({"watch": 600}, "watch", 'like "10m"'),
        ({"watch": "ten minutes"}, "watch", '"30s", "10m" or "2h"'),
        ({"watch": "0s"}, "watch", "positive duration"),
        ({"guardrails": "error_rate <= 0.01"}, "guardrails", "non-empty list"),
        ({"guardrails": []}, "guardrails", "non-empty list"),
        ({"guardrails": ["error_rate below 0.01"]}, "guardrails", "METRIC OP NUMBER"),
        ({"guardrails": ["drift_share <= 0.3"]}, "guardrails", "prediction_drift"),
        ({"guardrails": ["realised.auc >= 0.7"]}, "guardrails", "roc_auc"),
        ({"guardrails": ["estimated.mae <= 3"]}, "guardrails", "use realised.mae"),
        ({"guardrails": ["error_rate <= 1.5"]}, "guardrails", "a fraction from 0 to 1"),
        ({"guardrails": ["rejection_rate <= 5"]}, "guardrails", "a fraction from 0 to 1"),
        ({"guardrails": ["latency_p99_ms <= -5"]}, "guardrails", "positive number of milli"),
        ({"guardrails": ["error_rate <= 1e999"]}, "guardrails", "finite number"),
        ({"guardrails": [0.01]}, "guardrails", "METRIC OP NUMBER"),
    ],
)
def test_bad_settings_are_refused_naming_the_key_and_the_fix(
    table: dict[str, Any], key: str, fix: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rollout_config(table, WHERE)
    message = caught.value.message
    assert f"{WHERE}.{key}" in message
    assert fix in message
    assert caught.value.exit_code == 2


def test_a_table_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"policies\.churn\.rollout must be a table"):
        parse_rollout_config("canary", WHERE)  # type: ignore[arg-type]
