"""Metrics: time series written by a background writer that never holds up the training loop."""

from __future__ import annotations

import datetime as dt
import math
import time

import numpy as np
import pytest
import sqlalchemy as sa

from mloop.errors import InvalidInput, NotFound
from mloop.store import tables as t
from mloop.tracking import runs
from mloop.tracking.fluent import start_run
from mloop.tracking.writer import MetricWriter
from mloop.workspace import Workspace


def _count(workspace: Workspace, run_id: str) -> int:
    with workspace.store.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(t.metrics)
                .where(t.metrics.c.run_id == run_id)
            ).scalar_one()
        )


def test_steps_and_timestamps_are_persisted_in_order_after_close(workspace: Workspace) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with start_run(workspace=workspace) as run:
        for epoch in range(5):
            run.log_metric("loss", 1.0 / (epoch + 1), timestamp=start.timestamp() + epoch)
        run.log_metric("acc", 0.5, step=10, timestamp=start)
        run.log_metric("acc", 0.7, step=20, timestamp=start + dt.timedelta(seconds=1))
        run.log_metric("acc", 0.6)  # one past the last step: 21
        run.log_metrics({"f1": 0.4, "auc": 0.8}, step=3)
    history = runs.metric_history(workspace.store, run.id, "loss")
    assert [p.step for p in history] == [0, 1, 2, 3, 4]
    assert [p.value for p in history] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert [p.timestamp_ms for p in history] == [
        int(start.timestamp() * 1000) + 1000 * i for i in range(5)
    ]
    acc = runs.metric_history(workspace.store, run.id, "acc")
    assert [(p.step, p.value) for p in acc] == [(10, 0.5), (20, 0.7), (21, 0.6)]
    assert acc[1].timestamp_ms - acc[0].timestamp_ms == 1000
    found = runs.get_run(workspace.store, run.id)
    assert found.metrics == {"acc": 0.6, "auc": 0.8, "f1": 0.4, "loss": 0.2}


def test_ten_thousand_metrics_are_all_flushed(workspace: Workspace) -> None:
    with start_run(workspace=workspace) as run:
        for i in range(10_000):
            run.log_metric("loss", 1.0 / (i + 1))
        run.log_metric("lr", 0.01)
    assert _count(workspace, run.id) == 10_001
    history = runs.metric_history(workspace.store, run.id, "loss")
    assert [p.step for p in history] == list(range(10_000))
    assert runs.get_run(workspace.store, run.id).metrics["loss"] == 1.0 / 10_000


def test_nan_and_infinities_are_stored_as_they_are(workspace: Workspace) -> None:
    with start_run(workspace=workspace) as run:
        run.log_metric("loss", math.nan)
        run.log_metric("loss", math.inf)
        run.log_metric("loss", -math.inf)
        run.log_metric("grad", math.nan)
    values = [p.value for p in runs.metric_history(workspace.store, run.id, "loss")]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf]
    assert math.isnan(runs.get_run(workspace.store, run.id).metrics["grad"])
    rows = [
        {"run_id": run.id, "key": "bulk", "step": 0, "timestamp_ms": 1, "value": math.nan},
    ]
    runs.log_metrics_rows(workspace.store, rows)
    assert math.isnan(runs.metric_history(workspace.store, run.id, "bulk")[0].value)


def test_metric_history_of_an_unlogged_key_names_the_logged_ones(workspace: Workspace) -> None:
    with start_run(workspace=workspace) as run:
        run.log_metric("loss", 1.0)
    with pytest.raises(NotFound, match=r"has no metric 'accuracy'; it logged: loss\."):
        runs.metric_history(workspace.store, run.id, "accuracy")


def test_log_metric_does_not_wait_for_a_locked_store(workspace: Workspace) -> None:
    """Another writer holds the store; the loop still runs at full speed, nothing is lost."""
    with start_run(workspace=workspace) as run:
        run.log_metric("warmup", 1.0)
        run.flush()
        with workspace.store.transaction() as conn:
            if workspace.store.dialect == "postgresql":
                conn.execute(sa.text("LOCK TABLE metrics IN EXCLUSIVE MODE"))
            began = time.perf_counter()
            for i in range(20_000):
                run.log_metric("loss", float(i))
            time.sleep(0.5)  # the writer thread wakes and blocks on the lock meanwhile
            elapsed = time.perf_counter() - began
        assert elapsed < 5.0  # the busy timeout is 30 s; a synchronous write would wait it out
    assert _count(workspace, run.id) == 20_001


def test_a_writer_error_surfaces_on_flush_and_close(workspace: Workspace) -> None:
    writer = MetricWriter(workspace.store, interval_s=0.01)
    writer.add("no-such-run", "loss", 1.0, 0, 0)  # violates the foreign key to runs
    deadline = time.monotonic() + 10
    while writer.written == 0 and time.monotonic() < deadline:
        try:
            writer.add("no-such-run", "loss", 2.0, 1, 0)
        except sa.exc.IntegrityError:
            break  # the thread's error reached the caller on its next add
        time.sleep(0.02)
    else:
        pytest.fail("the writer thread's error never surfaced")
    with pytest.raises(sa.exc.IntegrityError):
        writer.flush()  # the failed points are kept and retried, so it fails again
    with pytest.raises(sa.exc.IntegrityError):
        writer.close()
    assert writer.written == 0


def test_bulk_rows_are_checked(workspace: Workspace) -> None:
    with start_run(workspace=workspace) as run:
        pass
    row = {"run_id": run.id, "key": "x", "step": 0, "timestamp_ms": 0, "value": "high"}
    with pytest.raises(InvalidInput, match="Metric 'x' must be a number"):
        runs.log_metrics_rows(workspace.store, [row])
    runs.log_metrics_rows(workspace.store, [{**row, "value": 3}, {**row, "step": 1, "value": 4.5}])
    assert [p.value for p in runs.metric_history(workspace.store, run.id, "x")] == [3.0, 4.5]


def test_a_step_must_be_a_whole_number_and_a_value_must_fit_a_float(workspace: Workspace) -> None:
    """int(2.7) filed the point under step 2; 10**400 raised a bare OverflowError."""
    with start_run(workspace=workspace) as run:
        run.log_metric("loss", 0.5, step=np.int64(3))
        run.log_metric("loss", 0.4, step=4.0)
        for step in (2.7, "5", 2**63):
            with pytest.raises(InvalidInput, match="step must be a whole number"):
                run.log_metric("loss", 0.3, step=step)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="must be a number, not 1000"):
            run.log_metric("loss", 10**400)
    assert [p.step for p in runs.metric_history(workspace.store, run.id, "loss")] == [3, 4]


def test_a_big_batch_keeps_every_value_in_order_nan_and_infinities_included(
    workspace: Workspace,
) -> None:
    """Points are inserted many rows to a statement: a count that is not a multiple of the
    statement's rows, and NaN (stored as text on SQLite) amid numbers, come back exactly."""
    values = [math.nan if i % 7 == 0 else math.inf if i % 11 == 0 else i / 3 for i in range(2_345)]
    with start_run(workspace=workspace) as run:
        for value in values:
            run.log_metric("x", value)
    history = runs.metric_history(workspace.store, run.id, "x")
    assert [p.step for p in history] == list(range(len(values)))
    for point, value in zip(history, values, strict=True):
        assert math.isnan(point.value) if math.isnan(value) else point.value == value
