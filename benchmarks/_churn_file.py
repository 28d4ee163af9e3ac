"""A churn table of any size written fast (vectorised numpy + Arrow), for the batch benchmark
and the memory test: the columns, types, nulls and categories of ``mloop.demo_data.generate``
(examples/churn), without its per-row Python (which takes ~17 s per million rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mloop.demo_data import CONTRACTS, INTERNET, PAYMENTS, REGIONS

BLOCK = 500_000  # rows generated and written at a time: the writer never holds the whole table


def _block(rng: np.random.Generator, start: int, rows: int, *, target: bool) -> pa.Table:
    contract = rng.choice(CONTRACTS, size=rows, p=[0.55, 0.25, 0.20])
    payment = rng.choice(PAYMENTS, size=rows, p=[0.34, 0.22, 0.22, 0.22])
    internet = rng.choice(INTERNET, size=rows, p=[0.35, 0.45, 0.20])
    tenure = np.clip(rng.gamma(2.0, 14.0, size=rows), 0, 72).round().astype(np.int64)
    base = np.select([internet == "Fiber optic", internet == "DSL"], [80.0, 55.0], 25.0)
    monthly = np.round(np.clip(base + rng.normal(0, 12, size=rows), 18.0, 130.0), 2)
    total = np.round(monthly * np.maximum(tenure, 1) * rng.uniform(0.95, 1.05, size=rows), 2)
    calls = rng.poisson(1.2, size=rows)
    days = (30.4 * tenure).astype(np.int64) + rng.integers(0, 28, rows)
    signup = np.datetime64("2026-01-01") - days.astype("timedelta64[D]")
    ids = pc.binary_join_element_wise(
        "C01-", pc.utf8_lpad(pa.array(np.arange(start, start + rows)).cast(pa.string()), 7, "0"), ""
    )
    columns = {
        "customer_id": ids,
        "signup_date": pa.array(signup),
        "tenure_months": pa.array(tenure),
        "contract": pa.array(contract),
        "internet_service": pa.array(internet),
        "payment_method": pa.array(payment),
        "monthly_charges": pa.array(monthly),
        "total_charges": pa.array(total, mask=tenure == 0),
        "support_calls": pa.array(calls, mask=rng.random(rows) < 0.02),
        "senior_citizen": pa.array(rng.random(rows) < 0.16),
        "paperless_billing": pa.array(rng.random(rows) < 0.6),
        "region": pa.array(rng.choice(REGIONS, size=rows), mask=rng.random(rows) < 0.04),
    }
    if target:
        columns["churned"] = pa.array(rng.random(rows) < 0.3)
    return pa.table(columns)


def write_churn(path: Path, rows: int, *, seed: int = 0, target: bool = False) -> Path:
    """``rows`` customers to ``path`` (.csv or .parquet), ``BLOCK`` rows at a time."""
    rng = np.random.default_rng(seed)
    writer: pacsv.CSVWriter | pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, BLOCK):
            table = _block(rng, start, min(BLOCK, rows - start), target=target)
            if writer is None:
                writer = (
                    pq.ParquetWriter(path, table.schema)
                    if path.suffix == ".parquet"
                    else pacsv.CSVWriter(path, table.schema)
                )
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path
