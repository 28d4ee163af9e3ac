"""`mloop demo` (what `make demo` runs) tells the whole loop end to end: real server, agent,
clients and webhook receiver. It takes a minute or two; every chapter's outcome is checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_the_story_runs_to_its_end(tmp_path: Path) -> None:
    folder = tmp_path / "story"
    done = subprocess.run(
        [sys.executable, "-m", "mloop", "demo", str(folder), "--rows", "1000"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "on-call receiver got: drift" in out
    assert "churn@3 failed gate 'loop'" in done.stdout + done.stderr
    assert "churn@4 rolled back: error_rate <= 0.01 failed" in out
    assert "demo finished" in out and "mloop serve stopped with SIGTERM, exit 0" in out

    def cli(*args: str) -> object:
        shown = subprocess.run(
            [sys.executable, "-m", "mloop", *args, "--json"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(shown.stdout)

    jobs = cli("jobs", "ls", "--kind", "retrain")
    assert isinstance(jobs, list)
    assert [j["status"] for j in jobs if j["trigger"]["kind"] == "alert"] == ["succeeded"]
    lineage = cli("models", "lineage", "churn@production")
    assert isinstance(lineage, dict) and lineage["model"] == "churn@2"
    served = lineage["served"][0]
    assert served["endpoint"] == "churn" and served["predictions"]["primary"] > 0
    assert (folder / "monitor-report.html").stat().st_size > 10_000
