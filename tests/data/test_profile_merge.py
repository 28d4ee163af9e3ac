"""Profiles merge: the profile of two parts, merged, is the profile of the whole.

On real tables (scikit-learn's bundled CSVs and the churn example, read as mloop reads them),
split at random: every count is exact, and every merged quantile is within the sketch's stated
rank error of the true rank in the whole column (computed with numpy, not with the sketch).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sklearn
import sqlalchemy as sa

from mloop.data.datasets import add_version, get_version
from mloop.data.io import read_arrow
from mloop.data.profile import DatasetProfile
from mloop.data.profile_columns import (
    QUANTILES,
    TRACKED_CATEGORIES,
    BooleanProfile,
    CategoricalProfile,
    ColumnProfile,
    DatetimeProfile,
    NumericProfile,
    column_profile_from_json,
    empty_profile,
)
from mloop.store import tables as t
from mloop.workspace import Workspace

SKLEARN_DATA = Path(sklearn.__file__).parent / "datasets" / "data"
EXAMPLES = Path(__file__).parents[2] / "examples"


def _churn(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location("churn_generate", EXAMPLES / "churn/generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = folder / "churn.csv"
    module.generate(3000, seed=3).to_csv(path, index=False)
    return path


def _sklearn_table(name: str, folder: Path) -> Path:
    """A bundled CSV with its first (metadata) line replaced by a header, as a user would."""
    source = SKLEARN_DATA / name
    lines = source.read_text().splitlines()
    width = len(lines[1].split(","))
    header = ",".join(f"c{i}" for i in range(width))
    path = folder / name
    path.write_text("\n".join([header, *lines[1:]]) + "\n")
    return path


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Table]:
    folder = tmp_path_factory.mktemp("tables")
    paths = {
        name: _sklearn_table(name, folder)
        for name in ("iris.csv", "breast_cancer.csv", "wine_data.csv")
    }
    paths["churn.csv"] = _churn(folder)
    found = {name: read_arrow(path) for name, path in paths.items()}
    rng = np.random.default_rng(5)  # a big column: the sketch leaves its exact mode
    big = rng.lognormal(3, 1, 300_000)
    big[rng.random(len(big)) < 0.01] = np.nan
    found["generated"] = pa.table({"amount": pa.array(big, from_pandas=True)})
    return found


def kind_of(column: pa.ChunkedArray) -> str:
    kind = column.type
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "datetime"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind):
        return "float"
    return "categorical"


def counts_of(profile: ColumnProfile) -> dict[str, object]:
    """Everything in a profile that must add up exactly."""
    data = profile.to_json()
    exact = {k: v for k, v in data.items() if k not in {"sketch", "quantiles", "rank_error"}}
    for key in ("mean", "std", "m2"):
        exact.pop(key, None)  # sums of floats: equal within rounding, checked below
    if "epoch_ns" in exact:
        exact["epoch_ns"] = {k: v for k, v in data["epoch_ns"].items() if k not in {"mean", "m2"}}
    return exact


def true_rank_range(values: np.ndarray, x: float) -> tuple[float, float]:
    """The share of ``values`` below ``x`` and at or below it (ties make rank a range)."""
    ordered = np.sort(values)
    n = len(ordered)
    return (
        np.searchsorted(ordered, x, side="left") / n,
        np.searchsorted(ordered, x, side="right") / n,
    )


def check_quantiles(profile: ColumnProfile, values: np.ndarray) -> None:
    assert isinstance(profile, NumericProfile)
    finite = values[np.isfinite(values)]
    error = profile.rank_error
    for q in QUANTILES.values():
        estimate = profile.quantile(q)
        assert estimate is not None
        low, high = true_rank_range(finite, estimate)
        assert low - error <= q <= high + error, (q, estimate, low, high, error)


def numbers(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        ints = column.cast(pa.timestamp("ns")).cast(pa.int64())
        out = ints.to_numpy().astype(float)
        out[pc.is_null(column).to_numpy(zero_copy_only=False)] = np.nan
        return np.asarray(out)
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "table", ["iris.csv", "breast_cancer.csv", "wine_data.csv", "churn.csv", "generated"]
)
def test_merged_parts_are_the_profile_of_the_whole(
    tables: dict[str, pa.Table], table: str, seed: int
) -> None:
    data = tables[table]
    rng = np.random.default_rng(seed)
    in_a = rng.random(data.num_rows) < rng.uniform(0.1, 0.9)
    part_a, part_b = data.filter(pa.array(in_a)), data.filter(pa.array(~in_a))
    for name in data.column_names:
        column = data.column(name)
        reference = empty_profile(kind_of(column)).update(column)
        whole = reference.like().update(column)
        merged = reference.like().update(part_a.column(name))
        merged = merged.merge(reference.like().update(part_b.column(name)))
        if isinstance(whole, CategoricalProfile) and len(whole.counts) >= TRACKED_CATEGORIES:
            # Past the cap the first-come spellings are tracked: totals still add up.
            assert (merged.rows, merged.nulls) == (whole.rows, whole.nulls), name
            assert sum(merged.counts.values()) + merged.other == whole.count
        else:
            assert counts_of(merged) == counts_of(whole), name
        assert merged.rows == data.num_rows
        if isinstance(whole, NumericProfile):
            assert isinstance(merged, NumericProfile)
            assert merged.mean == pytest.approx(whole.mean, rel=1e-9, abs=1e-9)
            assert merged.std == pytest.approx(whole.std, rel=1e-9, abs=1e-9)
            check_quantiles(merged, numbers(column))
            check_quantiles(whole, numbers(column))


def test_stored_profiles_merge_after_a_round_trip_through_json(
    tables: dict[str, pa.Table],
) -> None:
    data = tables["churn.csv"]
    half = data.num_rows // 2
    for name in data.column_names:
        column = data.column(name)
        reference = empty_profile(kind_of(column)).update(column)
        stored = [
            column_profile_from_json(
                json.loads(json.dumps(reference.like().update(part).to_json()))
            )
            for part in (column.slice(0, half), column.slice(half))
        ]
        assert counts_of(stored[0].merge(stored[1])) == counts_of(reference), name


def test_values_outside_the_reference_range_are_counted_in_the_open_bins() -> None:
    training = pa.array(np.linspace(0.0, 10.0, 101))
    reference = NumericProfile().update(training)
    window = pa.array(np.linspace(5.0, 15.0, 100))  # half of it past the training maximum
    shifted = reference.like().update(window)
    histogram = shifted.histogram()
    assert histogram["edges"] == reference.histogram()["edges"]
    assert histogram["above"] == int(np.sum(np.linspace(5.0, 15.0, 100) > 10.0)) == 50
    assert histogram["below"] == 0
    assert histogram["above"] + sum(histogram["counts"]) == 100
    lower = reference.like().update(pa.array([-1.0, -0.5, 0.0, 10.0, 10.5]))
    assert lower.histogram()["below"] == 2
    assert lower.histogram()["above"] == 1
    assert sum(lower.histogram()["counts"]) == 2  # both ends of the range are inside it


def test_histogram_counts_match_numpy_inside_the_range() -> None:
    values = np.random.default_rng(9).normal(0, 1, 50_000)
    profile = NumericProfile().update(pa.array(values))
    histogram = profile.histogram()
    expected, _ = np.histogram(values, bins=np.array(histogram["edges"]))
    assert histogram["counts"] == expected.tolist()
    assert histogram["below"] == histogram["above"] == 0


def test_nulls_nans_and_infinities_are_counted_apart() -> None:
    values = pa.array(
        [1.0, None, float("nan"), float("inf"), float("-inf"), 3.0], from_pandas=False
    )
    profile = NumericProfile().update(values)
    assert (profile.rows, profile.nulls, profile.nan, profile.posinf, profile.neginf) == (
        6,
        2,
        1,
        1,
        1,
    )
    assert (profile.min, profile.max, profile.finite) == (1.0, 3.0, 2)


def test_spellings_of_one_category_or_truth_value_are_counted_once() -> None:
    categories = CategoricalProfile().update(pa.array(["Yes", "yes", " YES ", "No", None]))
    assert categories.to_json()["categories"] == {"yes": 3, "no": 1}
    truth = BooleanProfile().update(pa.array(["Yes", "yes", "1", "true", "no", "0", None]))
    assert (truth.true, truth.false, truth.nulls, truth.unread) == (4, 2, 1, 0)
    native = BooleanProfile().update(pa.array([True, True, False, None]))
    assert native.merge(truth).to_json()["categories"] == {"true": 6, "false": 3}


def test_a_category_past_the_cap_is_counted_in_other() -> None:
    values = pa.array([f"v{i:03d}" for i in range(120) for _ in range(1 + i % 3)])
    data = CategoricalProfile().update(values).to_json()
    assert len(data["categories"]) == 50
    assert sum(data["categories"].values()) + data["other_count"] == len(values)


def test_datetimes_have_quantiles_and_open_bins() -> None:
    stamps = pa.array(
        np.datetime64("2026-01-01T00:00:00", "us") + np.arange(1000) * np.timedelta64(1, "h"),
        pa.timestamp("us", tz="Europe/Berlin"),
    )
    reference = DatetimeProfile().update(stamps)
    data = reference.to_json()
    assert data["min"].startswith("2026-01-01T01:00:00+01:00")
    later = reference.like().update(pa.array(stamps.to_numpy() + np.timedelta64(30, "D")))
    assert later.histogram()["above"] == int(np.sum(np.arange(1000) + 30 * 24 > 999))


def test_profiles_on_different_edges_refuse_to_merge() -> None:
    a = NumericProfile().update(pa.array([0.0, 1.0]))
    b = NumericProfile().update(pa.array([5.0, 9.0]))
    with pytest.raises(ValueError, match="like"):
        a.merge(b)


FORMAT_1 = Path(__file__).parent / "golden" / "format1_churn.json"


def test_a_format_1_profile_is_upgraded_when_read() -> None:
    """A profile written by mloop before format 2 (kept as written) reads as a typed profile."""
    old = json.loads(FORMAT_1.read_text())["profile"]
    assert "format_version" not in old
    profile = DatasetProfile.from_json(old)
    assert profile.rows == old["rows"]
    tenure = profile.columns["tenure_months"]
    before = old["columns"]["tenure_months"]
    assert isinstance(tenure, NumericProfile)
    assert tenure.histogram()["counts"] == before["histogram"]["counts"]
    assert tenure.histogram()["below"] == tenure.histogram()["above"] == 0
    assert (tenure.min, tenure.max, tenure.count) == (before["min"], before["max"], before["count"])
    assert tenure.std == pytest.approx(before["std"])
    assert tenure.quantile(0.5) == before["quantiles"]["p50"]
    with pytest.raises(ValueError, match="format-1"):
        tenure.merge(tenure.like().update(pa.array([3.0])))
    contract = profile.columns["contract"]
    assert isinstance(contract, CategoricalProfile)
    assert contract.counts == {
        k.lower(): v for k, v in old["columns"]["contract"]["categories"].items()
    }
    senior = profile.columns["senior_citizen"]
    assert isinstance(senior, BooleanProfile)
    assert (senior.true, senior.false) == (
        old["columns"]["senior_citizen"]["categories"]["True"],
        old["columns"]["senior_citizen"]["categories"]["False"],
    )
    signup = profile.columns["signup_date"]
    assert signup.to_json()["min"] == old["columns"]["signup_date"]["min"]
    upgraded = profile.to_json()
    assert upgraded["format_version"] == 2
    assert upgraded["columns"]["tenure_months"]["distinct"] == before["distinct"]
    assert DatasetProfile.from_json(json.loads(json.dumps(upgraded))).to_json() == upgraded


def test_a_stored_format_1_profile_reads_as_format_2(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    version = add_version(workspace.store, workspace.artifacts, name="t", path=path, actor="t")
    old = json.loads(FORMAT_1.read_text())["profile"]
    with workspace.store.transaction() as conn:
        conn.execute(
            sa.update(t.dataset_versions)
            .where(t.dataset_versions.c.id == version.version.id)
            .values(profile=old)
        )
    stored = get_version(workspace.store, "t@1").profile
    assert stored["format_version"] == 2
    assert stored["columns"]["contract"]["categories"] == {
        k.lower(): v for k, v in old["columns"]["contract"]["categories"].items()
    }
