"""Runs in real processes: a SIGTERM'd script ends KILLED, a forked child never ends its parent's run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mloop.tracking import runs
from mloop.workspace import Workspace


def _script(workspace: Workspace, tmp_path: Path, body: str) -> subprocess.Popen[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    env.update(MLOOP_STORE_URL=workspace.settings.store_url, MLOOP_USER="tester")
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=workspace.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminated_script_ends_its_run_killed_with_every_metric(
    workspace: Workspace, tmp_path: Path, signum: signal.Signals
) -> None:
    """`kill`, `timeout`, Kubernetes and Slurm send SIGTERM: the run must not stay RUNNING."""
    process = _script(
        workspace,
        tmp_path,
        """
        import time
        import mloop

        with mloop.start_run("signals") as run:
            for step in range(10**9):
                run.log_metric("loss", 1 / (step + 1))
                if step == 100:
                    run.flush()
                    print(run.id, flush=True)
                if step > 100:
                    time.sleep(0.001)
        """,
    )
    assert process.stdout is not None
    run_id = process.stdout.readline().strip()
    time.sleep(0.3)  # the loop goes on logging, the writer commits some, queues the rest
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr  # as a shell reports a signalled job
    found = runs.get_run(workspace.store, run_id)
    assert found.info.status == "KILLED" and found.info.ended_at is not None
    assert (found.info.error or "").startswith(f"Terminated: received {signum.name}")
    steps = [p.step for p in runs.metric_history(workspace.store, run_id, "loss")]
    assert steps == list(range(len(steps))) and len(steps) > 101  # the queued points too


def test_a_forked_child_logs_to_the_inherited_run_and_never_ends_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    process = _script(
        workspace,
        tmp_path,
        """
        import multiprocessing, os, sys
        import mloop
        from mloop.tracking import runs

        def work(run, key):
            for step in range(300):
                run.log_metric(key, step)

        if __name__ == "__main__":
            with mloop.start_run("fork") as run:
                run.log_metric("parent", 1.0)
                run.flush()
                worker = multiprocessing.get_context("fork").Process(
                    target=work, args=(run, "pool")
                )
                worker.start()
                worker.join()
                pid = os.fork()
                if pid == 0:
                    work(run, "child")
                    sys.exit(0)  # unwinds the inherited `with` in the child
                os.waitpid(pid, 0)
                print(runs.get_run(run.workspace.store, run.id).info.status)
                run.log_metric("parent", 2.0)
            print(run.id)
        """,
    )
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    status_while_open, run_id = stdout.split()
    assert status_while_open == "RUNNING"
    found = runs.get_run(workspace.store, run_id)
    assert found.info.status == "FINISHED"
    assert found.metrics == {"child": 299.0, "parent": 2.0, "pool": 299.0}
    for key in ("child", "pool"):
        assert len(runs.metric_history(workspace.store, run_id, key)) == 300


def test_a_run_whose_process_was_sigkilled_shows_its_process_gone(
    workspace: Workspace, tmp_path: Path
) -> None:
    """SIGKILL (or the OOM killer) leaves no chance to end the run: listings say nobody writes it."""
    from mloop.tracking.queries import get_run, list_runs

    process = _script(
        workspace,
        tmp_path,
        """
        import time
        import mloop

        with mloop.start_run("killed") as run:
            run.log_metric("loss", 0.5)
            run.flush()
            print(run.id, flush=True)
            time.sleep(600)
        """,
    )
    assert process.stdout is not None
    run_id = process.stdout.readline().strip()
    alive = get_run(workspace.store, run_id).info
    assert alive.status == "RUNNING" and not alive.process_gone
    process.kill()
    process.communicate(timeout=60)
    gone = get_run(workspace.store, run_id).info
    assert gone.status == "RUNNING" and gone.process_gone
    (listed,) = list_runs(workspace.store, experiment="killed")
    assert listed.process_gone and listed.metrics == {"loss": 0.5}


def test_a_run_from_another_container_or_boot_is_never_called_gone() -> None:
    """A pid means one process only within one boot and one pid namespace."""
    import socket

    from mloop.tracking.environment import process_gone, process_identity

    dead = {**process_identity(), "pid": 2**22 + 7}  # above any default pid_max: no such pid
    here = {"host": socket.gethostname(), "process": dead}
    assert process_gone(here)
    for key in ("boot", "pidns"):
        elsewhere = {"host": socket.gethostname(), "process": {**dead, key: "other"}}
        assert not process_gone(elsewhere)
