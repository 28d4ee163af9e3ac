"""Concurrent writers (processes, threads) to the tracking store lose nothing and collide on nothing."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

from mloop.tracking import runs
from mloop.workspace import Workspace

from ._workers import POINTS, log_a_run


def test_two_processes_logging_at_once_on_sqlite_lose_nothing(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'shared.db'}"
    ws, _ = Workspace.init(tmp_path / "ws", environ={"MLOOP_STORE_URL": store_url})
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [
        ctx.Process(target=log_a_run, args=(str(ws.root), store_url, label, barrier, results))
        for label in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    ids = dict(results.get(timeout=5).split("=") for _ in workers)
    run_ids = [ids["a"], ids["b"]]
    for run_id, label in zip(run_ids, ("a", "b"), strict=True):
        found = runs.get_run(ws.store, run_id)
        assert found.info.status == "FINISHED"
        assert found.info.experiment == "shared" and found.params["label"] == label
        history = runs.metric_history(ws.store, run_id, "loss")
        assert [p.step for p in history] == list(range(POINTS))
        assert found.metrics["done"] == 1.0 and found.tags["progress"] == "4000"
    assert len(runs.list_runs(ws.store, experiment="shared")) == 2
    ws.close()


def test_threads_logging_one_key_without_steps_get_distinct_steps(workspace: Workspace) -> None:
    import threading

    from mloop.tracking.fluent import start_run
    from mloop.tracking.queries import metric_history

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so an unlocked read-then-bump collides
    try:
        with start_run("threads", workspace=workspace) as run:

            def log() -> None:
                for _ in range(2_000):
                    run.log_metric("loss", 0.5)

            threads = [threading.Thread(target=log) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(switch)
    steps = [p.step for p in metric_history(workspace.store, run.id, "loss")]
    assert sorted(steps) == list(range(8_000))
