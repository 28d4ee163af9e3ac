"""The verdict rules on given figures: a pass needs min_sample, NaN fails, no data never
passes, a window that ends short of min_sample rejects, and a hopeless error rate fails early."""

from __future__ import annotations

import pytest

from mloop.rollouts import RolloutConfig
from mloop.rollouts.figures import Measured
from mloop.rollouts.verdict import duration_text, judge

GUARDRAILS = RolloutConfig(
    guardrails=("error_rate <= 0.01", "latency_p99_ms <= 50", "realised.roc_auc >= 0.7")
).thresholds()


def measured(requests: int, **candidate: float | None) -> Measured:
    figures: dict[str, float | None] = {
        "requests": float(requests),
        "predictions": float(requests),
        "error_rate": 0.0,
        "latency_p99_ms": 12.0,
        "realised.roc_auc": 0.8,
    }
    figures.update(candidate)
    return Measured(candidate=figures, champion={"error_rate": 0.0, "realised.roc_auc": 0.78})


def decide(found: Measured, *, elapsed: float = 60.0, min_sample: int = 200) -> tuple[str, str]:
    judgement = judge(GUARDRAILS, found, min_sample=min_sample, elapsed_s=elapsed, watch_s=600.0)
    return judgement.outcome, judgement.reason


def test_every_guardrail_passing_at_min_sample_passes_at_once() -> None:
    outcome, reason = decide(measured(200))
    assert outcome == "pass"
    assert reason.startswith("every guardrail passed on 200 requests")


def test_passing_figures_short_of_min_sample_keep_watching() -> None:
    assert decide(measured(199)) == ("watching", "199 of 200 requests so far")


def test_a_nan_figure_fails() -> None:
    outcome, reason = decide(measured(250, **{"realised.roc_auc": float("nan")}))
    assert outcome == "fail"
    assert "realised.roc_auc >= 0.7 failed: NaN on 250 requests, champion 0.78" in reason


def test_no_data_is_never_a_pass() -> None:
    found = measured(250, **{"realised.roc_auc": None})
    assert decide(found) == ("watching", "waiting for data for realised.roc_auc")
    outcome, reason = decide(found, elapsed=600.0)
    assert outcome == "fail"
    assert "no data for realised.roc_auc by the end of the 10m watch" in reason


def test_a_watch_that_ends_short_of_min_sample_rejects_the_candidate() -> None:
    outcome, reason = decide(measured(12), elapsed=601.0)
    assert outcome == "fail"
    assert reason.startswith("12 of 200 requests in 10m: too few for a verdict")


def test_a_failing_guardrail_after_min_sample_fails_at_once() -> None:
    outcome, reason = decide(measured(200, latency_p99_ms=80.0))
    assert outcome == "fail"
    assert "latency_p99_ms <= 50 failed: 80 on 200 requests" in reason


@pytest.mark.parametrize(
    ("requests", "error_rate", "outcome"),
    [
        (10, 0.1, "watching"),  # 1 error: 1/200 = 0.005 is still within 0.01
        (10, 0.2, "watching"),  # 2 errors: 2/200 = 0.01 can still hold
        (10, 0.3, "fail"),  # 3 errors: at best 3/200 = 0.015 at min_sample
    ],
)
def test_an_error_rate_that_cannot_recover_fails_before_min_sample(
    requests: int, error_rate: float, outcome: str
) -> None:
    found, reason = decide(measured(requests, error_rate=error_rate))
    assert found == outcome
    if outcome == "fail":
        assert "before min_sample" in reason


def test_latency_over_the_bar_before_min_sample_waits() -> None:
    assert decide(measured(20, latency_p99_ms=500.0))[0] == "watching"


@pytest.mark.parametrize(
    ("seconds", "text"), [(600, "10m"), (90, "1m30s"), (7200, "2h"), (2.5, "2.5s")]
)
def test_durations_read_as_written(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_a_rejection_rate_the_champion_shares_is_the_inputs_not_the_candidate() -> None:
    """10% of the traffic breaks the input rules: both sides reject it. Only what the candidate
    rejects beyond the champion counts against it."""
    rules = RolloutConfig(guardrails=("rejection_rate <= 0.05",)).thresholds()

    def verdict(candidate: float, champion: float | None) -> tuple[str, str]:
        found = Measured(
            candidate={"requests": 400.0, "predictions": 400.0, "rejection_rate": candidate},
            champion={} if champion is None else {"rejection_rate": champion},
        )
        judgement = judge(rules, found, min_sample=200, elapsed_s=60.0, watch_s=600.0)
        return judgement.outcome, judgement.checks[0]["detail"]

    outcome, detail = verdict(0.11, 0.10)
    assert outcome == "pass"
    assert detail == "0.11 (champion 0.1: the inputs, not the candidate): pass"
    assert verdict(0.18, 0.10)[0] == "fail"  # 8 points more than the champion
    assert verdict(0.11, None)[0] == "fail"  # nothing to compare with: the bar as written
    assert verdict(0.11, float("nan"))[0] == "fail"


def test_a_rejection_rate_fails_early_only_when_its_excess_cannot_recover() -> None:
    """4 of 17 requests rejected against the champion's 13%, min_sample 30: at best 4/30 = 13%
    at min_sample, no more than the champion, so it keeps watching (a live canary was rolled back
    here on the clients' bad rows); against a champion that rejects nothing it is hopeless."""
    rules = RolloutConfig(guardrails=("rejection_rate <= 0.05",)).thresholds()

    def outcome(champion: float) -> str:
        found = Measured(
            candidate={"requests": 17.0, "predictions": 17.0, "rejection_rate": 4 / 17},
            champion={"rejection_rate": champion},
        )
        return judge(rules, found, min_sample=30, elapsed_s=5.0, watch_s=120.0).outcome

    assert outcome(2 / 15) == "watching"
    assert outcome(0.0) == "fail"
