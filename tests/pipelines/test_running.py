"""Steps run in the executor's processes, independent ones at once; a failure stops the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mloop.pipelines import load_output, run_pipeline
from mloop.workspace import Workspace
from tests.pipelines.conftest import statuses

MEET = """

def meet(me, other):
    \"\"\"Wait (up to 20 s) until the other step has started: true only if both ran at once.\"\"\"
    (Path(FOLDER) / me).touch()
    deadline = time.monotonic() + 20
    while not (Path(FOLDER) / other).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@mloop.step
def total("""


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_independent_steps_run_at_the_same_time_in_worker_processes(
    workspace: Workspace, write_flow: Callable[..., Path], tmp_path: Path
) -> None:
    """Each of two independent steps waits for the other to start (a rendezvous, not a timing:
    a worker's cold start under load must not decide the test)."""
    write_flow(
        **{
            "PAUSE = 0.0": f"FOLDER = {str(tmp_path)!r}",
            "\n\n@mloop.step\ndef total(": MEET,
            "    time.sleep(PAUSE)\n": "",
            "return sum(values)": "return [sum(values), os.getpid(), meet('total', 'biggest')]",
            "return max(values)": "return [max(values), os.getpid(), meet('biggest', 'total')]",
            "return {": "return {'pids': [a[1], b[1]], 'met': [a[2], b[2]], ",
            '"total": a + b + offset': '"total": a[0] + b[0] + offset',
        }
    )
    done = run_pipeline(workspace, "flow")
    assert done.status == "succeeded", done.error
    result = load_output(workspace.artifacts, done.outputs["return"])
    assert result["met"] == [True, True]
    assert os.getpid() not in result["pids"] and len(set(result["pids"])) == 2
    total, biggest = done.step("total"), done.step("biggest")
    assert total.started_at and total.ended_at and biggest.started_at and biggest.ended_at
    assert total.started_at < biggest.ended_at and biggest.started_at < total.ended_at


def test_a_failing_step_fails_the_run_skips_its_dependents_and_records_the_error(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    write_flow(**{"return max(values)": "raise ValueError(f'no maximum of {values}')"})
    failed = run_pipeline(workspace, "flow")
    assert failed.status == "failed"
    assert statuses(failed) == {
        "load": "succeeded",
        "double": "succeeded",
        "total": "succeeded",  # a sibling already running finishes and is kept
        "biggest": "failed",
        "combine": "skipped",
    }
    error = failed.step("biggest").error or ""
    assert error.splitlines()[0] == "ValueError: no maximum of [2, 4, 6]"
    assert "pipelines.py" in error and "in biggest" in error  # the user's traceback
    assert "worker.py" not in error
    assert failed.error and "biggest" in failed.error


def test_resume_reuses_the_failed_runs_finished_steps_and_links_to_it(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    write_flow(**{"return max(values)": "raise ValueError('broken')"})
    failed = run_pipeline(workspace, "flow", {"offset": "1.5"})
    write_flow()  # fixed
    resumed = run_pipeline(workspace, "flow", resume=failed.id[:12])
    assert resumed.status == "succeeded"
    assert resumed.resumed_from == failed.id
    assert resumed.params["offset"] == 1.5  # the failed run's parameters
    assert statuses(resumed) == {
        "load": "cached",
        "double": "cached",
        "total": "cached",
        "biggest": "succeeded",
        "combine": "succeeded",
    }
    assert resumed.step("total").cached_from == failed.step("total").id


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_resume_of_a_run_whose_parameter_was_removed_says_so(
    cli: Any, write_flow: Callable[..., Path]
) -> None:
    write_flow(**{"return max(values)": "raise ValueError('broken')"})
    failed = cli("pipeline", "run", "flow", "--param", "offset=1.5", "--json")
    assert failed.exit_code == 1, failed.stderr
    run_id = json.loads(failed.stdout)["id"]
    write_flow(**{", offset: float = 0.0):": "):\n    offset = 0.0"})  # fixed by dropping it
    result = cli("pipeline", "run", "flow", "--resume", run_id)
    assert result.exit_code == 2, result.stderr
    assert (
        f"Run {run_id} was started with offset=1.5, a parameter pipeline 'flow' no longer has"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


STOPPED = """\
import time
from pathlib import Path

import mloop


@mloop.step
def slow() -> int:
    Path("started.flag").touch()
    time.sleep(2)
    return 42


@mloop.pipeline
def stopped():
    return slow()
"""


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("stop", "said"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_a_step_that_finishes_while_the_run_is_stopped_is_kept(
    cli: Any, workspace: Workspace, stop: signal.Signals, said: str
) -> None:
    (workspace.root / "pipelines.py").write_text(STOPPED, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    env["MLOOP_STORE_URL"] = workspace.settings.store_url
    process = subprocess.Popen(
        [sys.executable, "-m", "mloop", "pipeline", "run", "stopped"],
        cwd=workspace.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a suite started in the background (`./.ci/run &`) inherits SIGINT ignored, and Python
        # keeps an ignored SIGINT ignored: the child must have it as a terminal would give it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not (workspace.root / "started.flag").exists():
        assert time.monotonic() < deadline and process.poll() is None, "the step never started"
        time.sleep(0.05)
    process.send_signal(stop)  # the parent only: the step runs on and finishes
    process.communicate(timeout=30)
    run = json.loads(cli("pipeline", "ls", "--json").stdout)[0]
    assert run["status"] == "failed" and said in run["error"] and "--resume" in run["error"]
    assert statuses(cli("pipeline", "show", run["id"], "--json")) == {"slow": "succeeded"}
    # its result is not thrown away: the next run reuses it instead of running it again
    again = cli("pipeline", "run", "stopped", "--json")
    assert again.exit_code == 0, again.stderr
    assert statuses(again) == {"slow": "cached"}
