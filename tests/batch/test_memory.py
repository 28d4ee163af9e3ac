"""Batch scoring never loads the file whole: peak memory stays far below the file's frame size
and does not grow as the file goes on. Measured in a child process (ru_maxrss, /proc/self/statm)
so the test process's own allocations do not count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from _churn_file import write_churn  # noqa: E402

ROWS = 1_000_000
CHUNK = 25_000

CHILD = """
import json, resource, sys
from pathlib import Path
from mloop.workspace import Workspace
from mloop.batch.files import score_file

def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

root, warm, big, out = map(Path, sys.argv[1:5])
ws = Workspace.open(root)
def score(path, target, progress=None):
    return score_file(ws.store, ws.artifacts, model_ref="churn@1", input=path, output=target,
                      actor="test", chunk_rows=int(sys.argv[5]), progress=progress)
score(warm, out.with_name("warm-out.csv"))  # imports, model, first-chunk allocations
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
samples = []
result = score(big, out, lambda p: samples.append((p.rows_read, rss_mib())))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"base": base, "peak": peak, "samples": samples, "scored": result.rows_scored}))
"""


@pytest.mark.slow
def test_scoring_a_million_rows_keeps_memory_bounded_by_the_chunk(
    churn_model: str, workspace: Any, tmp_path: Path
) -> None:
    if not workspace.settings.store_url.startswith("sqlite"):
        pytest.skip("memory does not depend on the metadata store: measured once, on SQLite")
    big = write_churn(tmp_path / "big.csv", ROWS, seed=2)
    warm = write_churn(tmp_path / "warm.csv", 2 * CHUNK, seed=3)
    sample = pd.read_csv(big, nrows=100_000)  # what the naive read would hold, per row
    frame_mib = sample.memory_usage(deep=True).sum() / 2**20 * ROWS / len(sample)
    env = {**os.environ, "MLOOP_STORE_URL": workspace.settings.store_url}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, workspace.root, warm, big, tmp_path / "out.csv", str(CHUNK)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    seen = json.loads(child.stdout.strip().splitlines()[-1])
    assert seen["scored"] == ROWS
    growth = seen["peak"] - seen["base"]
    assert growth < frame_mib / 4, (growth, frame_mib)  # e.g. ~80 MiB against ~650 MiB
    # Nothing accumulates: the second half of the file needs no more memory than the first.
    samples = seen["samples"]
    first = max(rss for _, rss in samples[: len(samples) // 2])
    second = max(rss for _, rss in samples[len(samples) // 2 :])
    assert second < first + 32, (first, second)
