"""Validating data against a schema: compiled validators vs the pandas path they replace.

    python benchmarks/validation.py                  # 1,000,000 rows x 20 columns, 20,000 single rows
    python benchmarks/validation.py --rows 2000 --n 200    # smoke run

Batch: a Parquet file of ``--rows`` rows x 20 columns (8 float, 4 integer, 4 categorical, 2
boolean, a unique id and a timestamp), read and checked against the schema inferred from a
reference sample, with the outlier fences of its profile. Today's path reads it into pandas and
runs the pandas validator (benchmarks/_pandas_validation.py, a copy of the code before); the new
path reads Arrow and runs ``Schema.compile(profile).validate_table``. One row: a JSON record
checked on its own, ``validate_records([record])`` beside ``validate_frame`` on a one-row frame.
Both sides must find the same violations; the figures are medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import measure
from _pandas_validation import validate_frame as pandas_validate_frame

from mloop.data.io import read_arrow, read_table
from mloop.data.profile import infer_and_profile

TARGET_ROW_US = 20.0
TARGET_BATCH_S = 0.5


@dataclass
class Timed:
    seconds: float  # median wall time
    cpu: float  # median CPU time of this process (all threads)
    result: Any


def timed(fn: Callable[[], Any], repeat: int) -> Timed:
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timed(statistics.median(walls), statistics.median(cpus), result)


def make_table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {"id": rng.permutation(rows).astype(np.int64)}
    for i in range(8):
        values = rng.normal(100 * (i + 1), 15 * (i + 1), rows)
        columns[f"f{i}"] = np.where(rng.random(rows) < 0.02, np.nan, values)
    for i in range(4):
        columns[f"n{i}"] = rng.integers(0, 50 * (i + 1), rows)
    for i in range(4):
        levels = np.array([f"level_{i}_{k}" for k in range(5 + 3 * i)])
        columns[f"c{i}"] = pa.array(levels[rng.integers(0, len(levels), rows)])
    for i in range(2):
        columns[f"b{i}"] = rng.random(rows) < 0.3
    start = np.datetime64("2026-01-01T00:00:00", "s")
    columns["at"] = start + rng.integers(0, 86_400 * 365, rows).astype("timedelta64[s]")
    return pa.table(columns)


def faults(table: pa.Table, seed: int) -> pa.Table:
    """A few bad values: an outlier, a category never seen, two rows repeated at the end."""
    frame = table.to_pandas()
    frame.loc[10, "f0"] = 99_999.0
    frame.loc[20, "c0"] = "never_seen"
    frame.iloc[-2:] = frame.iloc[[5, 6]].to_numpy()
    return pa.Table.from_pandas(frame, preserve_index=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--n", type=int, default=20_000, help="single-row validations per side")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--without-key",
        action="store_true",
        help="drop the id column's unique rule, so duplicate rows are found by hashing every row",
    )
    args = parser.parse_args()

    load = os.getloadavg()[0]
    reference = make_table(min(args.rows, 100_000), seed=0)
    schema, profile = infer_and_profile(reference)
    if args.without_key:
        schema = schema.model_copy(
            update={"columns": [c.model_copy(update={"unique": False}) for c in schema.columns]}
        )
    compiled = schema.compile(profile)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "batch.parquet"
        pq.write_table(faults(make_table(args.rows, seed=1), seed=1), path)
        size = os.path.getsize(path) / 2**20
        new = timed(
            lambda: compiled.validate_table(read_arrow(path, text_as_dictionary=True)),
            args.repeat,
        )
        old = timed(lambda: pandas_validate_frame(schema, read_table(path)), args.repeat)
        read_only = measure(lambda: read_arrow(path, text_as_dictionary=True), repeat=args.repeat)
    new_found = sorted((v.column, v.rule, v.count) for v in new.result.violations)
    old_found = sorted((v.column, v.rule, v.count) for v in old.result.violations)
    cpus = os.cpu_count()
    print(
        f"validation: {args.rows:,} rows x 20 columns from Parquet ({size:.1f} MiB); {cpus} cores"
    )
    print(f"load average before: {load:.1f} (wall time stretches under load; CPU time less)")
    if args.without_key:
        print("without a unique key: duplicate rows found by hashing every row")
    print(f"{'side':<28}{'batch (s)':>12}{'CPU (s)':>10}")
    print(
        f"{'mloop compiled (Arrow)':<28}{new.seconds:>12.3f}{new.cpu:>10.3f}"
        f"   (Arrow read alone {read_only.seconds:.3f} s)"
    )
    print(f"{'today (pandas)':<28}{old.seconds:>12.3f}{old.cpu:>10.3f}")
    print(
        f"ratio today / compiled, batch: {old.seconds / new.seconds:.1f}x; "
        f"target <= {TARGET_BATCH_S} s: {'met' if new.seconds <= TARGET_BATCH_S else 'not met'}"
    )
    print(f"same violations: {'yes' if new_found == old_found else 'no'} {new_found}")
    print(f"warnings (compiled only): {[(v.column, v.rule, v.count) for v in new.result.warnings]}")

    records = reference.slice(0, 200).to_pylist()
    for record in records:  # as a JSON request carries them: ISO dates, null for missing
        record["at"] = record["at"].isoformat()
        record.update({k: None for k, v in record.items() if isinstance(v, float) and v != v})
    frames = [pd.DataFrame([r]) for r in records]
    assert all(compiled.validate_records([r]).ok for r in records)

    def per_call(fn: Callable[[int], Any], n: int) -> tuple[float, float]:
        """(wall, CPU) microseconds per call, medians over ``--repeat`` runs of ``n`` calls."""
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                fn(i)
            walls.append((time.perf_counter() - wall) / n)
            cpus.append((time.process_time() - cpu) / n)
        return statistics.median(walls) * 1e6, statistics.median(cpus) * 1e6

    row_new = per_call(lambda i: compiled.validate_records([records[i % 200]]), args.n)
    row_old = per_call(
        lambda i: pandas_validate_frame(schema, frames[i % 200]), max(args.n // 100, 20)
    )
    print(f"{'side':<28}{'one row (us)':>12}{'CPU (us)':>10}")
    print(f"{'mloop compiled (records)':<28}{row_new[0]:>12.1f}{row_new[1]:>10.1f}")
    print(f"{'today (pandas frame)':<28}{row_old[0]:>12.1f}{row_old[1]:>10.1f}")
    met = "met" if row_new[0] <= TARGET_ROW_US else "not met"
    print(
        f"ratio today / compiled, one row: {row_old[0] / row_new[0]:,.0f}x; "
        f"target <= {TARGET_ROW_US:.0f} us: {met}"
    )


if __name__ == "__main__":
    main()
