"""``mloop train --sweep``: trials as child runs of one parent, on the local pool and on Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mloop.tracking.runs import get_run, list_runs
from mloop.workspace import Workspace
from tests.conftest import run_mloop

FLAKY = '''
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


class Flaky(ClassifierMixin, BaseEstimator):
    """A logistic regression that refuses to fit when told to: a trial that fails."""

    def __init__(self, C=1.0, fail=False):
        self.C = C
        self.fail = fail

    def fit(self, X, y):
        if self.fail:
            raise RuntimeError("this trial was told to fail")
        self.inner_ = LogisticRegression(C=self.C, max_iter=500).fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict(self, X):
        return self.inner_.predict(X)

    def predict_proba(self, X):
        return self.inner_.predict_proba(X)
'''

SWEEP = ("--model", "logistic", "--sweep", "C=0.001:10:4:log", "--seed", "3")
C_VALUES = [0.001, 0.0215443469003, 0.464158883361, 10.0]


def _children(ws: Workspace, parent: str) -> list[Any]:
    return sorted(list_runs(ws.store, parent=parent), key=lambda r: r.name or "")


def _check_sweep(ws: Workspace, out: dict[str, Any], *, trials: int) -> None:
    """One parent, ``trials`` children, and best_run naming the child with the top roc_auc."""
    parent = get_run(ws.store, out["run"])
    assert parent.info.parent_run_id is None and parent.info.status == "FINISHED"
    children = _children(ws, parent.id)
    assert len(children) == trials
    assert {c.parent_run_id for c in children} == {parent.id}
    assert out["metric"] == "roc_auc" and parent.tags["mloop.sweep.metric"] == "roc_auc"
    top = max(children, key=lambda c: c.metrics["roc_auc"])
    assert parent.tags["best_run"] == top.id == out["best_run"]
    assert parent.metrics["roc_auc"] == top.metrics["roc_auc"]
    assert [get_run(ws.store, c.id).params["C"] for c in children] == C_VALUES


def test_a_local_sweep_makes_a_parent_a_child_per_trial_and_registers_the_best(
    cli: Any, workspace: Workspace, churn_csv: Path
) -> None:
    cli("data", "add", "churn", churn_csv)
    args = ("train", "--data", "churn", "--target", "churned", *SWEEP)
    result = cli(*args, "--register", "churn", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["executor"] == "local" and len(out["trials"]) == 4
    assert [t["params"]["C"] for t in out["trials"]] == C_VALUES
    assert all(t["status"] == "FINISHED" and t["seconds"] > 0 for t in out["trials"])
    _check_sweep(workspace, out, trials=4)

    assert out["registered"] == "churn@1"
    version = json.loads(cli("models", "show", "churn@1", "--json").stdout)["version"]
    assert version["run_id"] == out["best_run"]
    assert cli("models", "show", "churn@2").exit_code == 2  # one version, not one per trial

    shown = json.loads(cli("runs", "show", out["run"], "--json").stdout)
    assert [c["name"] for c in shown["children"]] == ["trial-1", "trial-2", "trial-3", "trial-4"]
    assert "(best)" in cli("runs", "show", out["run"]).stdout
    listed = json.loads(cli("runs", "ls", "--json").stdout)
    assert sum(r["parent_run_id"] == out["run"] for r in listed) == 4
    assert len(json.loads(cli("runs", "ls", "--parent", out["run"], "--json").stdout)) == 4


def test_a_failing_trial_is_a_failed_child_and_the_sweep_goes_on(
    cli: Any, workspace: Workspace, churn_csv: Path
) -> None:
    (workspace.root / "sweep_flaky.py").write_text(FLAKY)
    cli("data", "add", "churn", churn_csv)
    args = ("train", "--data", "churn", "--target", "churned", "--model", "sweep_flaky:Flaky")
    result = cli(*args, "--sweep", "fail=False,True", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    statuses = [(t["params"]["fail"], t["status"]) for t in out["trials"]]
    assert statuses == [(False, "FINISHED"), (True, "FAILED")]
    assert out["best_run"] == out["trials"][0]["run"]
    failed = get_run(workspace.store, out["trials"][1]["run"])
    assert failed.info.status == "FAILED" and "told to fail" in (failed.info.error or "")
    assert failed.info.parent_run_id == out["run"]
    assert "trial 2 failed" in result.stderr

    every = cli(*args, "--sweep", "fail=True")
    assert every.exit_code == 1
    assert "Every one of the 1 trial failed" in every.stderr
    sweeps = [r for r in list_runs(workspace.store) if r.parent_run_id is None]
    assert [r.status for r in sweeps] == ["FAILED", "FINISHED"]


@pytest.mark.parametrize(
    ("sweep", "says"),
    [
        ("C=1:10:0", "n must be at least 1"),
        ("C=0:10:3:log", "log scale needs lo above 0"),
        ("C=10:1:3", "is above hi"),
        ("no_such_param=1,2", "no_such_param"),
        ("C=-1,1", "C"),
    ],
)
def test_a_bad_sweep_is_refused_before_any_run(
    cli: Any, workspace: Workspace, churn_csv: Path, sweep: str, says: str
) -> None:
    cli("data", "add", "churn", churn_csv)
    result = cli("train", "--data", "churn", "--target", "churned", "--sweep", sweep)
    assert result.exit_code == 2
    assert says in result.stderr and "Traceback" not in result.stderr
    assert list_runs(workspace.store) == []


def test_a_sweep_of_a_dataset_that_does_not_exist_says_so_and_records_nothing(
    cli: Any, workspace: Workspace
) -> None:
    result = cli("train", "--data", "nosuch", "--target", "churned", "--sweep", "C=1,2")
    assert result.exit_code == 2
    assert "nosuch" in result.stderr and "Traceback" not in result.stderr
    assert list_runs(workspace.store) == []


def test_the_sweep_command_leaves_scikit_learn_and_pandas_to_its_workers(
    tmp_path: Path, churn_csv: Path
) -> None:
    """A worker checks the plan, so the command's own process never imports them: on 2 cores
    its 2 s of imports competed with a private Ray's two workers importing the same."""
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    env = {"MLOOP_USER": "tester", "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    assert run_mloop("init", cwd=ws_dir, env=env).returncode == 0
    assert run_mloop("data", "add", "churn", str(churn_csv), cwd=ws_dir, env=env).returncode == 0
    script = (
        "import sys\n"
        "from mloop.cli.app import main\n"
        "code = main(['train', '--data', 'churn', '--target', 'churned', '--model', 'logistic',"
        " '--sweep', 'C=0.1,1', '--json'])\n"
        "print('exit', code, sorted(m for m in ('sklearn', 'pandas') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ws_dir,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.stdout.splitlines()[-1] == "exit 0 []", done.stdout + done.stderr


RAY_ENV = {
    "MLOOP_USER": "tester",
    "MLOOP_EXECUTOR": "ray",
    "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
}


def _ray_workspace(tmp_path: Path, churn_csv: Path, workers: int) -> Path:
    """A new workspace with the churn table, on Ray with ``workers`` CPUs (MLOOP_EXECUTOR)."""
    pytest.importorskip("ray", reason="the Ray tests need mloop[ray]")
    return _workspace(tmp_path, churn_csv, workers, RAY_ENV)


def _workspace(tmp_path: Path, churn_csv: Path, workers: int, env: dict[str, str]) -> Path:
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    assert run_mloop("init", cwd=ws_dir, env=env).returncode == 0
    with (ws_dir / "mloop.toml").open("a") as config:
        config.write(f"\n[executor]\nmax_workers = {workers}\n")
    added = run_mloop("data", "add", "churn", str(churn_csv), cwd=ws_dir, env=env)
    assert added.returncode == 0
    return ws_dir


def _start_mloop(
    ws_dir: Path, args: list[str], env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mloop", *args],
        cwd=ws_dir,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")},
            **(RAY_ENV if env is None else env),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _no_ray_left(driver_pid: int) -> None:
    """Waits until the private Ray the command started is gone; fails if it stays."""
    from tests.executors.test_ray_executor import ray_processes_of

    deadline = time.monotonic() + 10
    while (left := ray_processes_of(driver_pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], left


def _ray_sweep(
    tmp_path: Path, churn_csv: Path, workers: int, sweep: list[str]
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``mloop train --sweep`` in a new workspace with MLOOP_EXECUTOR=ray, as a user runs it;
    waits until the private Ray the command started is gone (a test fails if it stays)."""
    ws_dir = _ray_workspace(tmp_path, churn_csv, workers)
    args = ["train", "--data", "churn", "--target", "churned", *sweep]
    with _start_mloop(ws_dir, args) as command:
        stdout, stderr = command.communicate(timeout=180)
    _no_ray_left(command.pid)
    return ws_dir, subprocess.CompletedProcess(args, command.returncode, stdout, stderr)


def test_a_sweep_on_ray_records_the_same_story_and_leaves_no_ray_behind(
    tmp_path: Path, churn_csv: Path
) -> None:
    ws_dir, done = _ray_sweep(tmp_path, churn_csv, 2, [*SWEEP, "--json"])
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["executor"] == "ray" and out["parallelism"] == 2
    with Workspace.open(ws_dir, environ=RAY_ENV) as ws:
        _check_sweep(ws, out, trials=4)


def test_a_sweep_on_ray_refused_for_a_bad_parameter_records_nothing_and_stops_ray(
    tmp_path: Path, churn_csv: Path
) -> None:
    """The grid is checked by a worker once Ray is up: the refusal is the same sentence and
    exit 2, with no run recorded and no Ray process left."""
    ws_dir, done = _ray_sweep(tmp_path, churn_csv, 1, ["--sweep", "no_such_param=1,2"])
    assert done.returncode == 2, done.stderr
    assert "no_such_param" in done.stderr and "Traceback" not in done.stderr
    with Workspace.open(ws_dir, environ=RAY_ENV) as ws:
        assert list_runs(ws.store) == []


# trials of several seconds each, so a kill lands in the middle of one
SLOW_SWEEP = [
    "train", "--data", "churn", "--target", "churned", "--model", "random_forest",
    "--param", "n_estimators=3000", "--sweep", "max_depth=4,5,6,7,8,9,10,11",
]  # fmt: skip


def _kill_mid_trial(ws_dir: Path, env: dict[str, str]) -> tuple[int, int, str, float, list[Any]]:
    """SIGTERM to a slow sweep once a trial runs: (its pid, exit code, stderr, seconds from
    the signal to the exit, the parent run and its children as recorded)."""
    with _start_mloop(ws_dir, SLOW_SWEEP, env) as command:
        deadline = time.monotonic() + 120
        with Workspace.open(ws_dir, environ=env) as ws:
            while not [r for r in list_runs(ws.store) if r.parent_run_id]:
                assert command.poll() is None and time.monotonic() < deadline, "no trial started"
                time.sleep(0.2)
            time.sleep(0.5)  # into the trial's fitting
            command.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            _, stderr = command.communicate(timeout=60)
            seconds = time.monotonic() - signalled
            recorded = list_runs(ws.store)
    return command.pid, command.returncode, stderr, seconds, recorded


def _assert_killed(code: int, stderr: str, seconds: float, recorded: list[Any]) -> None:
    """Exit 143 without a stack dump, at once rather than after the running trial, and every
    run KILLED or finished: none left RUNNING for ever."""
    assert code == 128 + signal.SIGTERM, stderr
    assert "SIGTERM received" not in stderr and "Traceback" not in stderr, stderr
    parent = next(r for r in recorded if r.parent_run_id is None)
    assert parent.status == "KILLED"
    children = [r for r in recorded if r.parent_run_id == parent.id]
    assert children and {c.status for c in children} <= {"KILLED", "FINISHED"}, children
    assert "KILLED" in {c.status for c in children}, "the trial in flight was not cut short"
    assert seconds < 10, f"the command took {seconds:.1f} s to stop"


def test_a_sweep_on_ray_killed_mid_trial_ends_killed_quietly_and_leaves_no_ray_behind(
    tmp_path: Path, churn_csv: Path
) -> None:
    """``kill`` of a sweep on Ray ends as on the process pool: the parent run and the trial in
    flight KILLED, exit 143, no stack dump (ray.init had put its own handler in, which exited
    15 and ended it FAILED), and the trial's Ray worker stopped with it."""
    ws_dir = _ray_workspace(tmp_path, churn_csv, 1)
    pid, code, stderr, seconds, recorded = _kill_mid_trial(ws_dir, RAY_ENV)
    _assert_killed(code, stderr, seconds, recorded)
    _no_ray_left(pid)


def test_a_sweep_on_the_pool_killed_mid_trial_stops_its_trials_at_once(
    tmp_path: Path, churn_csv: Path
) -> None:
    """The pool's workers are terminated with the command rather than awaited: a trial of an
    hour held up ``kill`` for the hour, and finished after its parent run was KILLED."""
    env = {k: v for k, v in RAY_ENV.items() if k != "MLOOP_EXECUTOR"}
    ws_dir = _workspace(tmp_path, churn_csv, 2, env)
    _, code, stderr, seconds, recorded = _kill_mid_trial(ws_dir, env)
    _assert_killed(code, stderr, seconds, recorded)
