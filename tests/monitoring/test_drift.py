"""Drift as its definitions promise: the JSON shape, the scipy definitions, the statistical contract."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from mloop.data.profile import DatasetProfile, infer_and_profile
from mloop.errors import InvalidInput
from mloop.monitoring.drift import DriftReport, Side, compare, drift, prediction_drift, profile_on

ROWS = 10_000
SEEDS = 100

REPORT_KEYS = {
    "reference",
    "current",
    "rows",
    "columns",
    "drifted_columns",
    "drift_share",
    "dataset_drift",
    "drift_share_threshold",
    "null_rate_jumps",
    "new_categories",
    "skipped",
}
COLUMN_KEYS = {
    "column",
    "kind",
    "method",
    "score",
    "threshold",
    "p_value",
    "drifted",
    "explanation",
    "statistic",
    "weight",
    "rows",
    "null_rate",
    "null_rate_jump",
    "new_categories",
    "new_category_rows",
}


def _table(data: pd.DataFrame | pa.Table) -> pa.Table:
    return (
        pa.Table.from_pandas(data, preserve_index=False) if isinstance(data, pd.DataFrame) else data
    )


def stored(data: pd.DataFrame | pa.Table) -> DatasetProfile:
    """A profile as a dataset version stores it: through its JSON."""
    profile = infer_and_profile(_table(data))[1]
    return DatasetProfile.from_json(profile.to_json())


def against_stored(
    reference: pd.DataFrame | pa.Table, current: pd.DataFrame | pa.Table, **options: Any
) -> DriftReport:
    ref = Side("train@1", stored(reference))
    table = _table(current)
    return compare(ref, Side("window", profile_on(ref.profile, table), table), **options)


def test_report_json_has_the_documented_shape() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"tenure": rng.normal(29, 5, 2000), "plan": rng.choice(["a", "b"], 2000)})
    cur = pd.DataFrame(
        {"tenure": rng.normal(18, 5, 2000), "plan": rng.choice(["a", "b", "z"], 2000)}
    )
    data = against_stored(ref, cur).to_json()
    assert set(data) == REPORT_KEYS
    assert data["reference"] == "train@1" and data["current"] == "window"
    assert data["rows"] == {"reference": 2000, "current": 2000}
    assert [set(c) for c in data["columns"]] == [COLUMN_KEYS, COLUMN_KEYS]
    tenure, plan = data["columns"]
    assert tenure["kind"] == "numeric" and tenure["method"] == "wasserstein"
    assert tenure["p_value"] is None and tenure["drifted"] is True and tenure["threshold"] == 0.1
    assert re.fullmatch(
        r"tenure: median 2\d\.\d → 1\d\.\d, normalised Wasserstein 2\.\d\d > 0\.1",
        tenure["explanation"],
    )
    assert plan["kind"] == "categorical" and plan["new_categories"][0]["value"] == "z"
    assert data["new_categories"] == {"plan": ["z"]}
    assert data["drifted_columns"] == ["tenure", "plan"]
    assert data["drift_share"] == 1.0 and data["dataset_drift"] is True


def test_ks_is_scipy_ks_2samp_when_both_sides_have_rows() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 300), rng.normal(0.2, 1, 400)
    report = drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}))
    column = report.column("x")
    expected = stats.ks_2samp(a, b)
    assert column.method == "ks"
    assert column.p_value == pytest.approx(expected.pvalue)
    assert column.statistic == pytest.approx(expected.statistic)
    assert column.drifted == (expected.pvalue < 0.05)


def test_ks_from_a_stored_profile_uses_the_asymptotic_distribution() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 800), rng.normal(0.3, 1, 600)
    column = against_stored(pd.DataFrame({"x": a}), pd.DataFrame({"x": b})).column("x")
    exact = stats.ks_2samp(a, b)
    assert column.method == "ks"
    assert column.statistic == pytest.approx(exact.statistic, abs=0.03)
    assert column.p_value == pytest.approx(
        stats.kstwo.sf(column.statistic, round(800 * 600 / 1400)), rel=1e-9
    )
    assert column.drifted


def test_chisquare_is_chi2_contingency_on_the_counts() -> None:
    ref = pd.DataFrame({"c": ["a"] * 300 + ["b"] * 200 + ["c"] * 100})
    cur = pd.DataFrame({"c": ["a"] * 250 + ["b"] * 250 + ["c"] * 90})
    column = drift(ref, cur).column("c")
    expected = stats.chi2_contingency(np.array([[300, 200, 100], [250, 250, 90]]))
    assert column.method == "chisquare"
    assert column.p_value == pytest.approx(expected.pvalue)
    assert column.statistic == pytest.approx(expected.statistic)


def test_psi_and_jensenshannon_follow_their_formulas() -> None:
    ref = pd.DataFrame({"c": ["a"] * 6000 + ["b"] * 4000})
    cur = pd.DataFrame({"c": ["a"] * 5000 + ["b"] * 5000})
    psi = drift(ref, cur, column_methods={"c": "psi"}).column("c")
    assert psi.score == pytest.approx(
        (0.5 - 0.6) * np.log(0.5 / 0.6) + (0.5 - 0.4) * np.log(0.5 / 0.4)
    )
    js = drift(ref, cur).column("c")
    assert js.score == pytest.approx(distance.jensenshannon([0.6, 0.4], [0.5, 0.5]))
    m = np.array([0.55, 0.45])
    kl = lambda p: float(np.sum(p * np.log(p / m)))  # noqa: E731
    assert js.method == "jensenshannon"
    assert js.score == pytest.approx(
        np.sqrt((kl(np.array([0.6, 0.4])) + kl(np.array([0.5, 0.5]))) / 2)
    )


def test_every_method_can_be_chosen_per_column_with_its_threshold() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 5000), "y": rng.normal(0, 1, 5000)})
    cur = pd.DataFrame({"x": rng.normal(0.3, 1, 5000), "y": rng.normal(0, 1, 5000)})
    for method in ("ks", "chisquare", "psi", "jensenshannon", "wasserstein"):
        report = against_stored(ref, cur, column_methods={"x": method})
        assert report.column("x").method == method
        assert report.column("y").method == "wasserstein"
    loose = against_stored(ref, cur, column_methods={"*": "wasserstein:0.5"})
    assert loose.column("x").threshold == 0.5 and not loose.column("x").drifted


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ({"x": "kl"}, "Unknown drift method 'kl'"),
        ({"nope": "psi"}, "'nope' is not a column"),
        ({"c": "ks"}, "compares numbers, but column 'c' is categorical"),
        ({"x": "psi:abc"}, "is not a number"),
    ],
)
def test_bad_choices_are_refused_with_one_sentence(methods: dict[str, str], message: str) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    with pytest.raises(InvalidInput, match=message):
        drift(frame, frame, column_methods=methods)


def test_dataset_drift_is_the_weighted_share_of_drifted_columns() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({k: rng.normal(0, 1, 3000) for k in "abcd"})
    cur = ref.copy()
    cur["a"] += 1.0
    plain = against_stored(ref, cur)
    assert plain.drifted_columns == ["a"] and plain.drift_share == 0.25
    assert not plain.dataset_drift
    assert against_stored(ref, cur, drift_share=0.25).dataset_drift
    weighted = against_stored(ref, cur, weights={"a": 3.0, "b": 1.0})
    assert weighted.drift_share == 0.75 and weighted.dataset_drift


def test_null_rate_jumps_and_unseen_categories_are_reported_on_their_own() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 4000), "plan": rng.choice(["a", "b"], 4000)})
    cur = ref.copy()
    cur.loc[:799, "x"] = np.nan  # 20% missing now
    cur.loc[:99, "plan"] = "brand-new"
    report = against_stored(ref, cur)
    assert report.null_rate_jumps == ["x"]
    x = report.column("x")
    assert x.null_rate == {"reference": 0.0, "current": 0.2}
    assert report.new_categories == {"plan": ["brand-new"]}
    assert report.column("plan").new_category_rows == 100


def test_columns_missing_from_the_current_side_are_skipped_with_the_reason() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0], "churned": [True, False, True]})
    report = drift(ref, pd.DataFrame({"x": [1.0, 2.5, 3.0]}))
    assert [c.column for c in report.columns] == ["x"]
    assert report.to_json()["skipped"] == [
        {
            "column": "churned",
            "reason": "not in the current data",
            "null_rate": {},
            "null_rate_jump": False,
        }
    ]


def test_a_column_missing_everywhere_now_is_skipped_and_still_a_null_rate_jump() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 500), "y": rng.normal(0, 1, 500)})
    cur = ref.assign(x=np.nan)
    report = against_stored(ref, cur)
    assert [c.column for c in report.columns] == ["y"]
    assert report.null_rate_jumps == ["x"]
    assert report.to_json()["skipped"][0]["reason"] == "no values in the current data"


def test_prediction_drift_compares_classes_and_probabilities() -> None:
    rng = np.random.default_rng(6)

    def window(p_yes: float) -> pa.Table:
        proba = np.clip(rng.normal(p_yes, 0.1, 5000), 0, 1)
        return pa.table(
            {
                "prediction": np.where(proba > 0.5, "yes", "no"),
                "proba.yes": proba,
                "proba.no": 1 - proba,
                "input.tenure": rng.normal(0, 1, 5000),
            }
        )

    report = prediction_drift(window(0.3), window(0.45))
    assert [c.column for c in report.columns] == ["prediction", "proba.no", "proba.yes"]
    assert report.column("prediction").kind == "categorical"
    assert report.dataset_drift
    same = prediction_drift(window(0.3), window(0.3))
    assert not same.drifted_columns


# ---- the statistical contract, 10,000 vs 10,000 rows, default settings, 100 seeds ----------
# Each seed draws a fresh reference (stored as a profile) and a fresh current window; 'same' is
# one distribution on both sides, the others are the contract's shifts. The 15 points move the
# share nearest 50%, where distances are least sensitive (the hardest case).

SHARES = np.array([0.45, 0.35, 0.2])
MOVED = np.array([0.30, 0.35 * 0.70 / 0.55, 0.2 * 0.70 / 0.55])  # 'a' loses 15 points


def _categories(rng: np.random.Generator, shares: np.ndarray) -> pa.Array:
    codes = rng.choice(len(shares), ROWS, p=shares).astype(np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(["a", "b", "c"]))


SCENARIOS = {
    "numeric": lambda rng: (
        {
            "same": rng.normal(0, 1, ROWS),
            "shift": rng.normal(0, 1, ROWS),
            "var": rng.normal(0, 1, ROWS),
        },
        {
            "same": rng.normal(0, 1, ROWS),
            "shift": rng.normal(0.5, 1, ROWS),  # half a standard deviation
            "var": rng.normal(0, np.sqrt(2), ROWS),  # twice the variance
        },
    ),
    "categorical": lambda rng: (
        {"same": _categories(rng, SHARES), "shift": _categories(rng, SHARES)},
        {"same": _categories(rng, SHARES), "shift": _categories(rng, MOVED)},
    ),
    "boolean": lambda rng: (
        {"same": rng.random(ROWS) < 0.5, "shift": rng.random(ROWS) < 0.5},
        {"same": rng.random(ROWS) < 0.5, "shift": rng.random(ROWS) < 0.65},
    ),
}


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_default_settings_meet_the_false_and_true_alarm_contract(kind: str) -> None:
    flagged: dict[str, int] = {}
    for seed in range(SEEDS):
        ref, cur = SCENARIOS[kind](np.random.default_rng(seed))
        report = against_stored(pa.table(ref), pa.table(cur))
        for column in report.columns:
            assert column.kind == kind
            flagged[column.column] = flagged.get(column.column, 0) + column.drifted
    assert flagged.pop("same") <= 5, flagged
    assert all(count >= 95 for count in flagged.values()), flagged


def test_jensenshannon_equals_scipy_when_a_side_has_categories_the_other_lacks() -> None:
    ref = pd.DataFrame({"c": ["a"] * 3000 + ["b"] * 2000})
    cur = pd.DataFrame({"c": ["a"] * 2000 + ["b"] * 2000 + ["z"] * 1000})
    column = drift(ref, cur).column("c")
    assert column.score == pytest.approx(distance.jensenshannon([0.6, 0.4, 0.0], [0.4, 0.4, 0.2]))


def test_a_wider_spread_is_named_in_the_explanation() -> None:
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 5000)})
    column = against_stored(ref, pd.DataFrame({"x": rng.normal(0, 2, 5000)})).column("x")
    assert re.fullmatch(
        r"x: median -?0\.\d+ → -?0\.\d+, sd 1\.\d+ → [12]\.\d+, .*> 0\.1", column.explanation
    )


def test_datetimes_drift_as_numbers_and_read_as_dates() -> None:
    start = pd.Timestamp("2026-01-01", tz="UTC")
    ref = pd.DataFrame({"signed_up": start + pd.to_timedelta(np.arange(5000), unit="h")})
    cur = ref + pd.Timedelta(days=60)
    column = against_stored(ref, cur).column("signed_up")
    assert column.kind == "datetime" and column.method == "wasserstein" and column.drifted
    # the quantile sketch places the median within its rank error (~hours here)
    assert re.match(r"signed_up: median 2026-04-1[45]T\S+ → 2026-06-1[34]T", column.explanation)


def test_tiny_p_values_keep_their_size_in_json() -> None:
    ref = pd.DataFrame({"x": np.arange(500.0)})
    data = drift(ref, ref + 1000).to_json()
    assert 0 < data["columns"][0]["p_value"] < 1e-100


def test_text_with_many_repeated_values_is_compared_as_categories_but_ids_are_not() -> None:
    rng = np.random.default_rng(9)
    cities = np.array([f"city-{i}" for i in range(120)])  # beyond a schema category's 50
    weights = rng.random(120)
    ref = pd.DataFrame(
        {
            "city": rng.choice(cities, 20_000, p=weights / weights.sum()),
            "id": [f"u{i}" for i in range(20_000)],
        }
    )
    moved = np.roll(weights, 60)
    cur = pd.DataFrame(
        {
            "city": rng.choice(cities, 20_000, p=moved / moved.sum()),
            "id": [f"v{i}" for i in range(20_000)],
        }
    )
    report = against_stored(ref, cur)
    city = report.column("city")
    assert city.kind == "categorical" and city.method == "jensenshannon" and city.drifted
    assert report.to_json()["skipped"][0]["column"] == "id"
    same = against_stored(ref, ref.sample(frac=1.0, random_state=1).head(10_000))
    assert not same.column("city").drifted
