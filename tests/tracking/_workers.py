"""Code the concurrency tests run in spawned processes (importable, so ``spawn`` can find it)."""

from __future__ import annotations

import os
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from mloop.tracking.fluent import start_run

POINTS = 5_000


def log_a_run(
    workspace_root: str, store_url: str, label: str, barrier: Barrier, results: Queue[str]
) -> None:
    os.environ["MLOOP_STORE_URL"] = store_url
    barrier.wait(timeout=60)  # both processes start logging at the same moment
    with start_run("shared", workspace=workspace_root, name=label) as run:
        run.log_params({"label": label, "lr": 0.1})
        for step in range(POINTS):
            run.log_metric("loss", 1.0 / (step + 1))
            if step % 250 == 0:
                run.flush()  # many small transactions, so the two writers interleave
            if step % 1_000 == 0:
                run.set_tag("progress", str(step))
        run.log_metric("done", 1.0)
    results.put(f"{label}={run.id}")
