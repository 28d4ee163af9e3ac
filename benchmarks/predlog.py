"""The prediction log: write rate per durability policy, and queries over 10⁷ records.

    python benchmarks/predlog.py                                  # 200,000 writes, 10^7 queried
    python benchmarks/predlog.py --records 2000 --query-records 20000   # smoke run

Writes: one PredictionLog (one writer thread), eight producer threads submitting requests the way
the server does: one record per request (under ``always`` each producer waits for its future,
as a request waits for its response), then 100 records per submit (a batch request). The rate
is records made durable per the policy per second, until ``flush()`` returned.

Queries: 10⁷ records spread over 30 days ending now, written directly as the compactor would
leave them (sorted Parquet files of one million records, the same columns the writer produces);
then ``read_log(since=1 h ago, limit=100)`` (what ``mloop logs X --since 1h --limit 100`` runs)
and a count by model over the whole log through ``connect`` (DuckDB). Median of three runs each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mloop.predlog import PredictionLog, connect, read_log
from mloop.predlog.segments import write_parquet

PRODUCERS = 8
FILE_RECORDS = 1_000_000


def _records(count: int, start: int) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "timestamp": now,
            "endpoint": "churn",
            "request_id": f"r{i}",
            "prediction_id": f"r{i}",
            "revision": 4,
            "model": "churn",
            "version": 3,
            "role": "primary",
            "routing_key": None,
            "status": 200,
            "latency_ms": 1.25,
            "inputs": {
                "tenure": i % 72,
                "monthly_charges": 20.0 + i % 100,
                "contract": "month-to-month",
                "support_calls": i % 9,
                "plan": "pro",
            },
            "prediction": "no",
            "probabilities": {"no": 0.8, "yes": 0.2},
            "error": None,
        }
        for i in range(start, start + count)
    ]


def write_rate(durability: str, total: int, per_submit: int) -> tuple[float, float]:
    """Records per second through one writer, from PRODUCERS threads, until durable; and the
    process's CPU time per record in µs (all threads), which a loaded machine disturbs less."""
    per_thread = total // PRODUCERS // per_submit
    prepared = [
        [_records(per_submit, (n * per_thread + i) * per_submit) for i in range(per_thread)]
        for n in range(PRODUCERS)
    ]
    with tempfile.TemporaryDirectory() as folder:
        log = PredictionLog(folder, durability=durability, max_queue=1 << 20)

        def produce(batches: list[list[dict[str, Any]]]) -> None:
            for batch in batches:
                future = log.submit("churn", batch, timeout=30)
                if durability == "always":
                    future.result()

        threads = [threading.Thread(target=produce, args=(p,)) for p in prepared]
        start, cpu = time.perf_counter(), time.process_time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        log.flush()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        stats = log.stats()
        log.close()
    written = per_thread * per_submit * PRODUCERS
    assert stats["written"] == written and stats["dropped"] == 0, stats
    return written / elapsed, cpu / written * 1e6


def generate(folder: Path, total: int, days: float = 30.0) -> None:
    """``total`` records over ``days`` ending now, as sorted million-record Parquet files."""
    endpoint = folder / "churn"
    endpoint.mkdir(parents=True)
    rng = np.random.default_rng(0)
    end_us = int(dt.datetime.now(dt.UTC).timestamp() * 1e6)
    start_us = end_us - int(days * 86400e6)
    stamps = np.sort(rng.integers(start_us, end_us, total))
    models = np.array(["churn", "churn-next"])
    roles = np.array(["primary", "canary", "shadow"])
    for number, low in enumerate(range(0, total, FILE_RECORDS)):
        n = min(FILE_RECORDS, total - low)
        ids = pa.array([f"r{i}" for i in range(low, low + n)])
        role = roles[rng.choice(3, n, p=[0.8, 0.1, 0.1])]
        proba = rng.random(n)
        table = pa.table(
            {
                "timestamp": pa.array(stamps[low : low + n], pa.timestamp("us", tz="UTC")),
                "endpoint": pa.array(np.full(n, "churn")),
                "request_id": ids,
                "prediction_id": ids,
                "revision": pa.array(np.full(n, 4, dtype=np.int64)),
                "model": pa.array(models[(role == "shadow").astype(int)]),
                "version": pa.array(np.where(role == "shadow", 4, 3).astype(np.int64)),
                "role": pa.array(role),
                "routing_key": pa.nulls(n, pa.string()),
                "status": pa.array(np.full(n, 200, dtype=np.int32)),
                "latency_ms": pa.array(rng.gamma(2.0, 0.6, n)),
                "error": pa.nulls(n, pa.string()),
                "prediction": pa.array(np.where(proba > 0.7, "yes", "no")),
                "input.tenure": pa.array(rng.integers(0, 72, n)),
                "input.monthly_charges": pa.array(rng.normal(65, 30, n)),
                "input.contract": pa.array(
                    np.array(["month-to-month", "one-year", "two-year"])[rng.integers(0, 3, n)]
                ),
                "input.support_calls": pa.array(rng.poisson(1.5, n)),
                "input.plan": pa.array(np.array(["basic", "pro"])[rng.integers(0, 2, n)]),
                "proba.no": pa.array(1 - proba),
                "proba.yes": pa.array(proba),
            }
        )
        write_parquet(table, endpoint, 2, f"{'b' * 16}-{number:06d}")


def median_time(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000, help="records written per policy")
    parser.add_argument("--query-records", type=int, default=10_000_000)
    args = parser.parse_args()
    print(
        f"predlog: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
        f"Python {sys.version.split()[0]}, pyarrow {pa.__version__}"
    )
    print(f"writes: {args.records:,} records per row, {PRODUCERS} producer threads, one writer")
    print(
        f"{'policy':<10}{'1 record/submit':>18}{'CPU us/rec':>12}"
        f"{'100 records/submit':>22}{'CPU us/rec':>12}   (records/s)"
    )
    for policy in ("always", "everysec", "off"):
        single, single_cpu = write_rate(
            policy, min(args.records, 50_000 if policy == "always" else args.records), 1
        )
        batched, batched_cpu = write_rate(policy, args.records, 100)
        print(
            f"{policy:<10}{single:>18,.0f}{single_cpu:>12.1f}{batched:>22,.0f}{batched_cpu:>12.1f}"
        )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        generate(folder, args.query_records)
        files = list((folder / "churn").glob("*.parquet"))
        size = sum(f.stat().st_size for f in files)
        print(
            f"queries: {args.query_records:,} records over 30 days in {len(files)} Parquet files, "
            f"{size / 2**20:.0f} MiB (generated in {time.perf_counter() - start:.1f} s)"
        )
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        recent, table = median_time(lambda: read_log(folder, "churn", since=since, limit=100))
        assert table.num_rows == min(100, table.num_rows) and table.num_rows > 0

        def by_model() -> list[tuple[str, int]]:
            con = connect(folder, "churn")
            try:
                rows: list[tuple[str, int]] = con.sql(
                    "SELECT model, count(*) FROM log GROUP BY model ORDER BY model"
                ).fetchall()
                return rows
            finally:
                con.close()

        counted, counts = median_time(by_model)
        assert sum(c for _, c in counts) == args.query_records
        print(f"read_log --since 1h --limit 100: {recent * 1000:8.1f} ms ({table.num_rows} rows)")
        print(f"count by model (whole log):      {counted * 1000:8.1f} ms {dict(counts)}")


if __name__ == "__main__":
    main()
