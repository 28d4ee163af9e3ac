"""Records shaped as the server submits them, and a log folder per test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mloop.predlog import PredictionLog
from mloop.workspace import Workspace

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def make_records(
    count: int,
    *,
    start: int = 0,
    at: dt.datetime = T0,
    step_s: float = 1.0,
    role: str = "primary",
    model: str = "churn",
    version: int = 1,
    endpoint: str = "churn",
    **overrides: Any,
) -> list[dict[str, Any]]:
    """``count`` records, one per ``step_s`` from ``at``; request ids ``req-<n>``."""
    out = []
    for i in range(start, start + count):
        record: dict[str, Any] = {
            "timestamp": at + dt.timedelta(seconds=i * step_s),
            "endpoint": endpoint,
            "request_id": f"req-{i}",
            "prediction_id": f"req-{i}",
            "revision": 3,
            "model": model,
            "version": version,
            "role": role,
            "routing_key": None if i % 2 else f"customer-{i % 7}",
            "status": 200,
            "latency_ms": 0.5 + i % 10,
            "inputs": {"tenure": i % 72, "plan": "basic" if i % 3 else "pro", "charges": 20.5 + i},
            "prediction": "yes" if i % 4 == 0 else "no",
            "probabilities": {"yes": 0.25, "no": 0.75},
            "error": None,
        }
        record.update(overrides)
        out.append(record)
    return out


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "predictions"


@pytest.fixture
def plog(folder: Path) -> Iterator[PredictionLog]:
    log = PredictionLog(folder)
    yield log
    log.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """The log never touches the metadata store, so SQLite alone (not each back end) is enough."""
    ws, _ = Workspace.init(
        tmp_path / "ws",
        environ={"MLOOP_STORE_URL": f"sqlite:///{tmp_path / 'mloop.db'}", "MLOOP_USER": "tester"},
    )
    yield ws
    ws.close()
