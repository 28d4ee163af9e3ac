"""Each benchmark runs at toy size, so a broken benchmark is caught; timings never gate the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("hashing.py", ["--size-mib", "4", "--repeat", "1"], "ratio mloop / md5"),
        ("tracking.py", ["--n", "200"], "mloop"),
        ("model_load.py", ["--n", "50"], "onnx"),
        (
            "validation.py",
            ["--rows", "2000", "--n", "200", "--repeat", "1"],
            "same violations: yes",
        ),
        ("gates.py", ["--rows", "2000", "--resamples", "20"], "ratio old / mloop"),
        ("data_add.py", ["--size-mib", "2"], "ratio mloop / pyarrow read"),
        ("serving.py", ["--smoke"], "minus in-process predict p50"),
        ("serving_core.py", ["--n", "10"], "batched per-row cost"),
        ("predlog.py", ["--records", "1600", "--query-records", "20000"], "count by model"),
        ("batch_predict.py", ["--rows", "3000"], "same predictions: yes"),
        ("drift.py", ["--smoke"], "numpy floor"),
        ("monitor.py", ["--records", "2000"], "in the window by duckdb"),
        ("pipelines.py", ["--repeat", "1"], "per cached step"),
        ("sweep.py", ["--smoke"], "same trial metrics on every executor: yes"),
    ],
)
def test_benchmark_runs_at_toy_size(
    script: str, args: list[str], expect: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert expect in result.stdout.lower()
