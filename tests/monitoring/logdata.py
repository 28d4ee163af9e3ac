"""Prediction-log records shaped as the server submits them, written through the real writer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from mloop.predlog import PredictionLog

T0 = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)
CONTRACTS = ("month-to-month", "one-year", "two-year")


def churn_records(
    count: int,
    *,
    seed: int = 0,
    at: dt.datetime = T0,
    span_s: float = 3600.0,
    model: str = "churn",
    version: int = 1,
    role: str = "primary",
    latency_ms: float = 5.0,
    slow_contract: str | None = None,
    tenure_shift: float = 0.0,
    error_every: int = 0,
    reject_every: int = 0,
    null_tenure_every: int = 0,
    prefix: str = "req",
    flip_every: int = 0,
) -> list[dict[str, Any]]:
    """``count`` one-row requests spread over ``span_s`` seconds from ``at``.

    ``slow_contract`` triples that segment's latency; ``*_every`` makes every n-th record a 5xx,
    a 4xx or null its tenure; ``flip_every`` flips every n-th prediction (for a shadow).
    """
    rng = np.random.default_rng(seed)
    tenure = np.clip(rng.normal(30 + tenure_shift, 12, count), 0, 72).round()
    contract = rng.choice(len(CONTRACTS), count, p=[0.5, 0.3, 0.2])
    charges = rng.normal(70, 20, count).round(2)
    latency = rng.gamma(4.0, latency_ms / 4.0, count)
    proba = 1 / (1 + np.exp((tenure - 20) / 8))
    offsets = np.sort(rng.uniform(0, span_s, count))
    out = []
    for i in range(count):
        name = CONTRACTS[contract[i]]
        yes = bool(proba[i] > 0.5)
        if flip_every and i % flip_every == 0:
            yes = not yes
        status = 200
        if error_every and i % error_every == 0:
            status = 500
        elif reject_every and i % reject_every == 1:
            status = 422
        ms = float(latency[i]) * (3.0 if name == slow_contract else 1.0)
        out.append(
            {
                "timestamp": at + dt.timedelta(seconds=float(offsets[i])),
                "endpoint": "churn",
                "request_id": f"{prefix}-{i}",
                "prediction_id": f"{prefix}-{i}",
                "revision": 1,
                "model": model,
                "version": version,
                "role": role,
                "routing_key": None,
                "status": status,
                "latency_ms": ms,
                "inputs": {
                    "tenure": None
                    if null_tenure_every and i % null_tenure_every == 0
                    else float(tenure[i]),
                    "contract": name,
                    "monthly_charges": float(charges[i]),
                },
                "prediction": None if status >= 400 else ("yes" if yes else "no"),
                "probabilities": None
                if status >= 400
                else {"yes": float(proba[i]), "no": float(1 - proba[i])},
                "error": "boom" if status == 500 else None,
            }
        )
    return out


def write_log(folder: Path, endpoint: str, *batches: list[dict[str, Any]]) -> None:
    """Submit every batch through the real writer and close it (sealing the segments)."""
    log = PredictionLog(folder, durability="always")
    try:
        for records in batches:
            for start in range(0, len(records), 10_000):
                log.submit(endpoint, records[start : start + 10_000]).result()
    finally:
        log.close()
