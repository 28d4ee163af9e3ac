"""The frame, schema and profile of small mixed tables, pinned against golden files.

They pin what a dataset version stores, so a faster reader or profiler must give the same answer:
ints, floats with nulls and infinities, thousands and decimal commas, low- and high-cardinality
text, tied category counts, leading zeros, every date spelling the reader refines, booleans as
true/false, yes/no and Y/N, all-empty columns, and the Parquet types a pandas or Arrow writer emits.
Regenerate the golden files (only after a deliberate change) with
``python tests/data/test_pinned_profiles.py``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mloop.data.datasets import add_version
from mloop.data.io import read_arrow, read_table
from mloop.data.profile import infer_and_profile
from mloop.data.schema import infer_schema, read_truth
from mloop.workspace import Workspace

GOLDEN = Path(__file__).parent / "golden"
ROWS = 400


def mixed_csv(rows: int = ROWS) -> str:
    """A comma-separated table with every column shape the reader treats differently."""
    rng = random.Random(7)
    carriers = ["UA", "AA", "B6", "DL", "EV", "MQ", "US", "WN"]
    start = dt.datetime(2024, 1, 1, 8, 30)
    header = (
        "id,zip,qty,price,delta,amount,carrier,tailnum,note,iso_date,stamp_z,stamp_off,"
        "eu_date,us_date,ambiguous,named_date,flag,yn,YN,onezero,const,mixed,allnull,bigint,"
        "decimal_comma,group50,code60,city"
    )
    lines = [header]
    for i in range(rows):
        when = start + dt.timedelta(hours=13 * i)
        price = "NA" if i % 11 == 0 else ("inf" if i == 13 else f"{rng.uniform(1, 500):.2f}")
        note = "" if i % 9 == 0 else f'"said {rng.randint(0, 10**6)}, then left"'
        if i == 5:
            note = '"two\nlines"'
        cells = [
            str(i + 1),
            f"{rng.randint(0, 99999):05d}",
            "" if i % 7 == 0 else str(rng.randint(0, 40)),
            price,
            f"{rng.gauss(0, 3):.3f}",
            f'"{rng.uniform(0, 50000):,.2f}"',
            "null" if i % 13 == 0 else rng.choice(carriers),
            f"N{rng.randint(100, 999)}{rng.choice('ABCXYZ')}",
            note,
            when.strftime("%Y-%m-%d"),
            when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            when.strftime("%Y-%m-%dT%H:%M:%S") + ("+02:00" if i % 2 else "-05:00"),
            when.strftime("%d.%m.%Y"),
            when.strftime("%m/%d/%Y"),
            f"{1 + i % 12:02d}/{1 + i % 11:02d}/2024",
            when.strftime("%d %b %Y"),
            "" if i % 17 == 0 else rng.choice(["true", "false"]),
            rng.choice(["yes", "no", "Yes", " no"]),
            "NA" if i % 5 == 0 else rng.choice(["Y", "N"]),
            str(i % 2),
            "x",
            ["1", "2", "three", "4.5"][i % 4],
            "",
            str(2**60 + i),
            f'"{rng.randint(0, 99)},{rng.randint(0, 9)}"',
            f"g{i % 50}",
            f"c{i % 60}",
            ["Zürich", "José", "東京", "Oslo"][i % 4],
        ]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


SEMICOLON_CSV = (
    "name;amount;big;when;note\n"
    "a;1,5;1.234,5;31.01.2024;x\n"
    "b;2,25;12.000;01.02.2024;\n"
    "c;;3,0;;y\n"
    "d;-4,75;999;15.03.2024;x\n"
)


def mixed_parquet_table(rows: int = ROWS) -> pa.Table:
    """The Arrow types a Parquet writer emits, nulls in most of them."""
    rng = np.random.default_rng(11)
    nulls = np.arange(rows) % 6 == 0
    stamps = pd.Timestamp("2024-03-01 00:00") + pd.to_timedelta(np.arange(rows) * 7, unit="h")
    words = np.array(["red", "green", "blue", None], dtype=object)
    return pa.table(
        {
            "i8": pa.array(rng.integers(-100, 100, rows), pa.int8()),
            "u32": pa.array(rng.integers(0, 10**6, rows), pa.uint32()),
            "i64_nulls": pa.array(rng.integers(0, 50, rows), pa.int64(), mask=nulls),
            "f32": pa.array(rng.normal(size=rows).astype(np.float32), mask=nulls),
            "f64_nan": pa.array(np.where(nulls, np.nan, rng.normal(10, 2, rows))),
            "bool": pa.array(rng.integers(0, 2, rows).astype(bool)),
            "bool_nulls": pa.array(rng.integers(0, 2, rows).astype(bool), mask=nulls),
            "text": pa.array(words[rng.integers(0, 4, rows)], pa.string()),
            "large_text": pa.array(
                [f"item {k}" for k in rng.integers(0, 10**6, rows)], pa.large_string()
            ),
            "dict": pa.array(words[rng.integers(0, 3, rows)]).dictionary_encode(),
            "berlin": pa.array(
                stamps.tz_localize("Europe/Berlin"), pa.timestamp("us", "Europe/Berlin")
            ),
            "naive_ns": pa.array(stamps, pa.timestamp("ns")),
            "date": pa.array([s.date() for s in stamps], pa.date32()),
            "dec": pa.array(
                [decimal.Decimal(int(k)) / 100 for k in rng.integers(0, 10**5, rows)],
                pa.decimal128(9, 2),
            ),
            "empty": pa.array([None] * rows, pa.string()),
            "yesno": pa.array(np.array(["yes", "no"], dtype=object)[rng.integers(0, 2, rows)]),
            "blob": pa.array([b"ab", b"cd"] * (rows // 2), pa.binary()),
        }
    )


def _value(value: Any) -> Any:
    """A JSON-able spelling of a frame cell that keeps its Python type."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return f"{type(value).__name__}:{value.isoformat()}"
    if isinstance(value, bytes):
        return f"bytes:{value.hex()}"
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return f"{type(value).__name__}:{value}"


def pinned(profile: dict[str, Any]) -> dict[str, Any]:
    """A stored profile without what a randomised sketch makes differ from run to run (the
    sketch and its quantiles, checked against numpy in ``check_against_the_frame`` instead)."""
    columns = {
        name: {k: v for k, v in column.items() if k not in {"sketch", "quantiles", "rank_error"}}
        for name, column in profile["columns"].items()
    }
    return {**profile, "columns": columns}


def describe(path: Path) -> dict[str, Any]:
    """What a dataset version stores of ``path``, and the frame training code reads back."""
    frame = read_table(path)
    schema, profile = infer_and_profile(read_arrow(path))
    return {
        "frame": {
            str(name): {
                "dtype": str(frame[name].dtype),
                "values": [_value(v) for v in frame[name].astype(object).tolist()],
            }
            for name in frame.columns
        },
        "schema": schema.to_json(),
        "profile": pinned(profile.to_json()),
    }


def write_inputs(folder: Path) -> dict[str, Path]:
    paths = {
        "mixed_csv": folder / "mixed.csv",
        "semicolon_csv": folder / "semicolon.csv",
        "mixed_parquet": folder / "mixed.parquet",
    }
    paths["mixed_csv"].write_text(mixed_csv(), encoding="utf-8")
    paths["semicolon_csv"].write_text(SEMICOLON_CSV, encoding="utf-8")
    pq.write_table(mixed_parquet_table(), paths["mixed_parquet"])
    return paths


def assert_same(actual: Any, expected: Any, where: str = "") -> None:
    """Equal, floats within rounding, dict keys in the same order (category order is stored)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert list(actual) == list(expected), where
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{where}[{index}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12), where
    else:
        assert actual == expected and type(actual) is type(expected), where


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("pinned"))


@pytest.mark.parametrize("name", ["mixed_csv", "semicolon_csv", "mixed_parquet"])
def test_frame_schema_and_profile_are_pinned(inputs: dict[str, Path], name: str) -> None:
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(describe(inputs[name])))
    for part in ("frame", "schema", "profile"):
        assert_same(actual[part], expected[part], f"{name}:{part}")


@pytest.mark.parametrize("name", ["mixed_csv", "semicolon_csv", "mixed_parquet"])
def test_a_stored_version_holds_the_pinned_schema_and_profile(
    workspace: Workspace, inputs: dict[str, Path], name: str
) -> None:
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    version = add_version(
        workspace.store, workspace.artifacts, name="pinned", path=inputs[name], actor="t"
    ).version
    assert_same(version.schema.to_json(), expected["schema"], f"{name}:schema")
    assert_same(pinned(version.profile), expected["profile"], f"{name}:profile")
    check_against_the_frame(version.profile, read_table(inputs[name]), name)
    assert version.row_count == expected["profile"]["rows"]
    assert version.column_count == len(expected["frame"])


def _pandas_written(folder: Path) -> list[Path]:
    """Parquet files whose pandas metadata restores an index or extension dtypes, and CSVs."""
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3] * 40, dtype="Int64"),
            "s": pd.array(["a", None, "b"] * 40, dtype="string"),
            "c": pd.Categorical(["x", "y", "x"] * 40),
            "f": [0.5, float("nan"), 2.0] * 40,
            "flag": ["Y", "N", None] * 40,
            "key": [f"k{i}" for i in range(120)],
        }
    )
    paths = []
    for label, data in {
        "range": frame,
        "named_index": frame.set_index("key"),
        "sliced": frame.iloc[7:],
        "int_names": frame.set_axis(range(6), axis=1),
    }.items():
        path = folder / f"{label}.parquet"
        data.to_parquet(path)
        paths.append(path)
    (folder / "flags.csv").write_text("a,b\n" + "yes,1\nno,0\nNA,\n" * 50)
    return [*paths, folder / "flags.csv"]


def test_stored_versions_match_the_frame_functions_on_any_parquet(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The Arrow inference agrees with pandas' ``infer_schema`` on the frame training reads,
    and the stored counts with the frame's, whatever pandas metadata the file carries."""
    for path in _pandas_written(tmp_path):
        frame = read_table(path)
        version = add_version(
            workspace.store,
            workspace.artifacts,
            name=path.stem.replace("_", "-"),
            path=path,
            actor="t",
        ).version
        assert_same(version.schema.to_json(), infer_schema(frame).to_json(), path.name)
        check_against_the_frame(version.profile, frame, path.name)


@pytest.mark.parametrize("name", ["mixed_csv", "semicolon_csv", "mixed_parquet"])
def test_golden_values_are_the_ones_numpy_and_pandas_compute(
    inputs: dict[str, Path], name: str
) -> None:
    """The golden files are not only compared with themselves: their numbers are recomputed."""
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    frame = read_table(inputs[name])
    assert_same(infer_schema(frame).to_json(), expected["schema"], f"{name}:pandas schema")
    check_against_the_frame(expected["profile"], frame, name)
    _, profile = infer_and_profile(read_arrow(inputs[name]))
    check_against_the_frame(profile.to_json(), frame, name)  # with the sketch's quantiles


def _utc_ns(series: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(series.dropna())
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(stamps.astype("datetime64[ns]").astype("int64"), dtype=float)


def check_against_the_frame(profile: dict[str, Any], frame: pd.DataFrame, where: str) -> None:
    """Every count in a stored profile, recomputed from the frame with pandas and numpy."""
    assert profile["rows"] == len(frame), where
    by_name = {str(c): c for c in frame.columns}  # pandas may restore int column names
    for name, stats in profile["columns"].items():
        column = frame[by_name[name]]
        at = f"{where}:{name}"
        missing = int(column.isna().sum())
        assert (stats["rows"], stats["nulls"], stats["count"]) == (
            len(frame),
            missing,
            len(frame) - missing,
        ), at
        present = column.dropna()
        kind = stats["type"]
        if kind in {"integer", "float"}:
            values = pd.to_numeric(present).to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            assert (stats["posinf"], stats["neginf"]) == (
                int(np.sum(values == np.inf)),
                int(np.sum(values == -np.inf)),
            ), at
            if not len(finite):
                continue
            assert (stats["min"], stats["max"]) == (finite.min(), finite.max()), at
            assert stats["mean"] == pytest.approx(finite.mean(), rel=1e-9), at
            if len(finite) > 1:
                assert stats["std"] == pytest.approx(finite.std(ddof=1), rel=1e-9, abs=1e-12), at
            histogram = stats["histogram"]
            edges = np.array(histogram["edges"])
            counts, _ = np.histogram(finite, bins=edges)
            assert histogram["counts"] == counts.tolist(), at
            assert histogram["below"] == int(np.sum(finite < edges[0])), at
            assert histogram["above"] == int(np.sum(finite > edges[-1])), at
            if "distinct" in stats:
                assert stats["distinct"] == present.nunique(), at
            _check_quantiles(stats, finite, at)
        elif kind == "datetime":
            stamps = _utc_ns(present)
            first, last = pd.Timestamp(stats["min"]), pd.Timestamp(stats["max"])
            assert first == present.min() and last == present.max(), at
            histogram = stats["histogram"]
            edges = np.array(histogram["edges"])
            counts, _ = np.histogram(stamps, bins=edges)
            assert histogram["counts"] == counts.tolist(), at
            assert histogram["below"] == int(np.sum(stamps < edges[0])), at
            assert histogram["above"] == int(np.sum(stamps > edges[-1])), at
        elif kind == "boolean":
            truth = read_truth(present)
            assert (stats["true"], stats["false"]) == (int(truth.sum()), int((~truth).sum())), at
            assert stats["distinct"] == truth.nunique(), at
        else:
            spelt = present.map(str).str.strip().str.lower().value_counts()
            top = spelt.sort_values(ascending=False, kind="stable").head(50)
            assert stats["categories"] == {
                k: spelt[k] for k in sorted(spelt.index, key=lambda k: (-spelt[k], k))[:50]
            }, at
            assert sum(stats["categories"].values()) + stats["other_count"] == len(present), at
            assert len(top) == len(stats["categories"]), at
            assert stats["distinct"] == present.map(str).nunique(), at


def _check_quantiles(stats: dict[str, Any], finite: np.ndarray, where: str) -> None:
    """Each stored quantile is within the stated rank error of its true rank."""
    if "quantiles" not in stats:
        return
    ordered = np.sort(finite)
    error = stats["rank_error"]
    for key, value in stats["quantiles"].items():
        q = float(key[1:]) / 100
        low = np.searchsorted(ordered, value, side="left") / len(ordered)
        high = np.searchsorted(ordered, value, side="right") / len(ordered)
        assert low - error <= q <= high + error, (where, key, value, low, high, error)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        GOLDEN.mkdir(exist_ok=True)
        for key, path in write_inputs(Path(folder)).items():
            text = json.dumps(describe(path), indent=1, ensure_ascii=False)
            (GOLDEN / f"{key}.json").write_text(text + "\n", encoding="utf-8")
            print(f"wrote {GOLDEN / key}.json", file=sys.stderr)
