"""Operations figures of a window, checked against the same records counted with numpy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from mloop.errors import InvalidInput
from mloop.monitoring.operations import measure
from mloop.predlog import connect
from tests.monitoring.logdata import T0, churn_records, write_log

END = T0 + dt.timedelta(hours=1)


def _value(points: list, metric: str, **where: object) -> float | None:
    keys = {"segment": None, "model": None, "version": None, "role": None, **where}
    found = [
        p.value
        for p in points
        if p.metric == metric and all(getattr(p, k) == v for k, v in keys.items())
    ]
    assert len(found) == 1, (metric, where, found)
    return found[0]


def test_latency_errors_rejections_shadow_and_nulls_per_version_and_segment(tmp_path: Path) -> None:
    primary = churn_records(
        3000, slow_contract="two-year", error_every=50, reject_every=20, null_tenure_every=7
    )
    canary = churn_records(600, version=2, role="canary", prefix="can", seed=4)
    shadow = churn_records(400, role="shadow", version=3, flip_every=10)
    write_log(tmp_path, "churn", primary, canary, shadow)
    con = connect(tmp_path, "churn")
    ops = measure(con, T0, END, segments=["contract"])
    served = primary + canary
    latency = np.array([r["latency_ms"] for r in served])
    status = np.array([r["status"] for r in served])

    assert ops.records == len(served)
    assert _value(ops.points, "predictions") == len(served)
    assert _value(ops.points, "throughput_rps") == pytest.approx(len(served) / 3600)
    for metric, q in (("latency_p50_ms", 0.5), ("latency_p95_ms", 0.95), ("latency_p99_ms", 0.99)):
        assert _value(ops.points, metric) == pytest.approx(np.quantile(latency, q))
    assert _value(ops.points, "error_rate") == pytest.approx(np.mean(status >= 500))
    assert _value(ops.points, "rejection_rate") == pytest.approx(
        np.mean((status >= 400) & (status < 500))
    )
    answered = [r for r in served if r["status"] < 400]
    nulls = np.mean([r["inputs"]["tenure"] is None for r in answered])
    assert _value(ops.points, "null_rate.tenure") == pytest.approx(nulls)
    assert _value(ops.points, "null_rate") == pytest.approx(nulls)  # the worst column

    # the shadow shadowed the first 400 primary requests and flipped every 10th answer
    pairs = [(s, p) for s, p in zip(shadow, primary[:400], strict=True) if p["status"] < 400]
    disagree = np.mean([s["prediction"] != p["prediction"] for s, p in pairs])
    assert _value(ops.points, "shadow_disagreement_rate") == pytest.approx(disagree)
    assert _value(
        ops.points, "shadow_disagreement_rate", model="churn", version=3, role="shadow"
    ) == pytest.approx(disagree)

    # per version: each role's own records
    canary_latency = np.array([r["latency_ms"] for r in canary])
    assert _value(
        ops.points, "latency_p99_ms", model="churn", version=2, role="canary"
    ) == pytest.approx(np.quantile(canary_latency, 0.99))
    assert _value(ops.points, "predictions", model="churn", version=1, role="primary") == 3000

    # per segment: the slow contract is where latency is, and refused requests are their own
    slow = np.array(
        [
            r["latency_ms"]
            for r in served
            if r["status"] < 400 or r["status"] >= 500
            if r["inputs"]["contract"] == "two-year"
        ]
    )
    assert _value(ops.points, "latency_p99_ms", segment="contract=two-year") == pytest.approx(
        np.quantile(slow, 0.99)
    )
    assert _value(ops.points, "rejection_rate", segment="contract=(refused)") == 1.0
    assert _value(ops.points, "rejection_rate", segment="contract=one-year") == 0.0


def test_rare_segment_values_are_one_other_segment(tmp_path: Path) -> None:
    write_log(tmp_path, "churn", churn_records(500))
    ops = measure(connect(tmp_path, "churn"), T0, END, segments=["contract"], max_segments=1)
    segments = {p.segment for p in ops.points if p.segment}
    assert segments == {"contract=month-to-month", "contract=(other)"}


def test_an_empty_window_measures_zero_predictions(tmp_path: Path) -> None:
    write_log(tmp_path, "churn", churn_records(50))
    later = END + dt.timedelta(days=1)
    ops = measure(connect(tmp_path, "churn"), later, later + dt.timedelta(hours=1))
    assert ops.records == 0
    assert _value(ops.points, "predictions") == 0


def test_a_segment_that_is_not_an_input_is_refused_naming_the_inputs(tmp_path: Path) -> None:
    write_log(tmp_path, "churn", churn_records(50))
    with pytest.raises(InvalidInput, match=r"'plan' is not an input.*tenure, contract"):
        measure(connect(tmp_path, "churn"), T0, END, segments=["plan"])
