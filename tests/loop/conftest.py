"""A workspace with a churn model serving on an endpoint, and a retraining policy for it.

``churn@1`` (logistic, trained by the real CLI) is ``churn@champion`` and endpoint ``churn``
follows it. ``policy(...)`` appends ``[policies.churn]`` and a fast ``[agent]`` table to mloop.toml.
A slow model (``slowmodel:slow``) sleeps while building the estimator for as many seconds as
``slow.flag`` in the workspace says, and writes ``started.flag`` first: real work an agent can
be killed in the middle of, without a test-only switch in mloop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mloop.demo_data import generate
from mloop.workspace import Workspace

SLOW_MODEL = """\
import pathlib
import time

from sklearn.linear_model import LogisticRegression


def slow(**params):
    here = pathlib.Path(__file__).parent
    flag = here / "slow.flag"
    if flag.exists():
        (here / "started.flag").write_text("started")
        time.sleep(float(flag.read_text()))
    return LogisticRegression(**params)
"""

AGENT = """
[agent]
tick = "0.3s"
lease = "2s"
heartbeat = "0.4s"

[gates.quick]
min_holdout_rows = 30

[gates.human]
min_holdout_rows = 30
approval = true
"""


def policy_toml(
    *,
    triggers: str = '[{ kind = "manual" }]',
    cooldown: str = "0s",
    data: str = '{ dataset = "churn", version = "latest" }',
    model: str = "logistic",
    gate: str | None = "quick",
    extra: str = "",
) -> str:
    gate_line = f'gate = "{gate}"\n' if gate else ""
    return (
        "\n[policies.churn]\n"
        f"triggers = {triggers}\n"
        f'cooldown = "{cooldown}"\n'
        f"data = {data}\n"
        f'train = {{ target = "churned", model = "{model}", seed = 3, register = "churn", params = {{ C = 1.0 }} }}\n'
        f"{gate_line}{extra}" + AGENT
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip a whole-story test's PostgreSQL run before its set-up (a schema, a migration, a
    trained model) is paid for."""
    skip = pytest.mark.skip(
        reason="a whole-story test: SQLite only (tests marked postgres cover PostgreSQL)"
    )
    for item in items:
        params = getattr(item, "callspec", None)
        on_postgres = params is not None and params.params.get("store_url") == "postgresql"
        uses_served = "served" in getattr(item, "fixturenames", ())
        if on_postgres and uses_served and not item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.fixture
def served(cli: Any, workspace: Workspace, tmp_path: Path) -> Workspace:
    """churn@1 is churn@champion, served by endpoint churn; the slow model module is in place.

    Whole-story tests run on SQLite; those marked ``postgres`` (two agents on one store) run on
    PostgreSQL too, where the store's concurrency is what differs (see the hook below)."""
    month1 = tmp_path / "month1.csv"
    generate(1200, seed=3).to_csv(month1, index=False, date_format="%Y-%m-%d")
    assert cli("data", "add", "churn", month1).exit_code == 0
    trained = cli("train", "--data", "churn", "--target", "churned", "--register", "churn")
    assert trained.exit_code == 0, trained.stderr
    promoted = cli(
        "models", "promote", "churn", "1", "--to", "champion", "--no-gate", "--reason", "first"
    )
    assert promoted.exit_code == 0, promoted.stderr
    assert cli("deploy", "churn", "churn@champion").exit_code == 0
    (workspace.root / "slowmodel.py").write_text(SLOW_MODEL)
    return workspace


def write_policy(ws: Workspace, text: str) -> None:
    config = ws.root / "mloop.toml"
    base = config.read_text().split("\n[policies.churn]")[0].split("\n[agent]")[0]
    config.write_text(base + text)
    later = time.time() + 1  # a new mtime even within the file system's clock resolution
    os.utime(config, (later, later))


def agent_env(ws: Workspace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    env.update(MLOOP_STORE_URL=ws.settings.store_url, MLOOP_USER="tester")
    return env


@pytest.fixture
def start_agent(
    served: Workspace, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``mloop agent`` processes on the workspace; each is stopped (or killed) at the end."""
    started: list[subprocess.Popen[str]] = []
    logs: list[Any] = []

    def start(*args: str) -> subprocess.Popen[str]:
        log = open(tmp_path / f"agent-{len(started)}.log", "w+")  # noqa: SIM115 - read at the end
        logs.append(log)
        process = subprocess.Popen(
            [sys.executable, "-m", "mloop", "agent", *args],
            cwd=served.root,
            env=agent_env(served),
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )
        process.log_path = log.name  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
    for log in logs:
        log.close()


def agent_log(process: subprocess.Popen[str]) -> str:
    return Path(process.log_path).read_text()  # type: ignore[attr-defined]


def wait_until(check: Callable[[], Any], *, timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or check}")


def wait_for_agent(ws: Workspace) -> None:
    """Until an agent's heartbeat is in the store, so `mloop retrain` queues for it."""
    from mloop.loop import jobs, state

    def alive() -> bool:
        with ws.store.read() as conn:
            return bool(state.alive_agents(conn, jobs.now_utc()))

    wait_until(alive, what="an agent's heartbeat")
