"""The churn tables the README's tour and `make demo` use, shipped in the package.

A new user has no ``churn.csv``: ``mloop demo --data-only DIR`` writes the tour's files from here,
and ``examples/churn/generate.py`` is the same generator as a script. The table is realistic: a
learnable signal, nulls, dates and categories. Month 1 is the reference; ``drift=True`` makes a
later month the way production drifts: prices go up, more month-to-month contracts, more support
calls, and a payment method the model never saw.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

CONTRACTS = ["Month-to-month", "One year", "Two year"]
PAYMENTS = ["Electronic check", "Mailed check", "Bank transfer", "Credit card"]
INTERNET = ["DSL", "Fiber optic", "None"]
REGIONS = ["North", "South", "East", "West"]


def generate(
    rows: int = 5000, *, seed: int = 0, month: int = 1, drift: bool = False
) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 7919 * month)
    contract_p = [0.55, 0.25, 0.20] if not drift else [0.70, 0.18, 0.12]
    contract = rng.choice(CONTRACTS, size=rows, p=contract_p)
    payments = PAYMENTS + (["Crypto wallet"] if drift else [])
    payment_p = [0.34, 0.22, 0.22, 0.22] if not drift else [0.30, 0.18, 0.18, 0.18, 0.16]
    payment = rng.choice(payments, size=rows, p=payment_p)
    internet = rng.choice(INTERNET, size=rows, p=[0.35, 0.45, 0.20])
    tenure = np.clip(rng.gamma(2.0, 14.0, size=rows), 0, 72).round().astype(int)
    base_charge = np.select([internet == "Fiber optic", internet == "DSL"], [80.0, 55.0], 25.0)
    charge = base_charge + rng.normal(0, 12, size=rows) + (8.0 if drift else 0.0)
    monthly = np.round(np.clip(charge, 18.0, 130.0), 2)
    total = np.round(monthly * np.maximum(tenure, 1) * rng.uniform(0.95, 1.05, size=rows), 2)
    support_calls = rng.poisson(1.2 if not drift else 2.0, size=rows)
    senior = rng.random(rows) < 0.16
    paperless = rng.random(rows) < 0.6
    region = rng.choice(REGIONS, size=rows).astype(object)

    logit = (
        -1.2
        + 1.6 * (contract == "Month-to-month")
        - 1.1 * (contract == "Two year")
        - 0.045 * tenure
        + 0.022 * (monthly - 65)
        + 0.38 * support_calls
        + 0.55 * (payment == "Electronic check")
        + 0.35 * senior
        + 0.5 * (internet == "Fiber optic")
    )
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))

    start = dt.date(2026, 1, 1) + dt.timedelta(days=30 * (month - 1))
    signup = [
        start - dt.timedelta(days=int(30.4 * t) + int(d))
        for t, d in zip(tenure, rng.integers(0, 28, rows), strict=True)
    ]
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{month:02d}-{i:06d}" for i in range(rows)],
            "signup_date": pd.to_datetime(signup),
            "tenure_months": tenure,
            "contract": contract,
            "internet_service": internet,
            "payment_method": payment,
            "monthly_charges": monthly,
            "total_charges": total.astype(float),
            "support_calls": support_calls,
            "senior_citizen": senior,
            "paperless_billing": paperless,
            "region": region,
            "churned": churned,
        }
    )
    # Real tables have holes: new customers without a total yet, unknown regions, unlogged calls.
    frame.loc[frame["tenure_months"] == 0, "total_charges"] = np.nan
    frame.loc[rng.random(rows) < 0.04, "region"] = None
    frame["support_calls"] = frame["support_calls"].astype("Int64")
    frame.loc[rng.random(rows) < 0.02, "support_calls"] = pd.NA
    return frame


# The files the README's quick tour names, as (file name, month, drift).
TOUR_FILES = (("churn.csv", 1, False), ("next-month.csv", 2, True))


def write(frame: pd.DataFrame, out: Path) -> None:
    """Parquet for a ``.parquet`` name, else CSV with plain dates (as people export them)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False, date_format="%Y-%m-%d")


def write_tour_files(folder: Path, *, rows: int = 5000, seed: int = 0) -> list[Path]:
    """Write the tour's tables into ``folder`` (created if missing); returns their paths."""
    written = []
    for name, month, drift in TOUR_FILES:
        write(generate(rows, seed=seed, month=month, drift=drift), folder / name)
        written.append(folder / name)
    return written
