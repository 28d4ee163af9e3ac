"""`mloop serve --agent`: the agent's life follows the server's. Killed with SIGKILL, the server
leaves no agent driving rollouts alone; stopped with SIGTERM, it stops its agent at once, not
after its own graceful shutdown."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from mloop.endpoints.service import deploy
from mloop.registry.promotion import promote
from mloop.workspace import Workspace
from tests.loop.conftest import agent_env, policy_toml, wait_until, write_policy
from tests.rollouts import models


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(n) for n in text]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@contextmanager
def _serve_with_agent(served: Workspace) -> Iterator[tuple[subprocess.Popen[str], str, int]]:
    """``mloop serve --port 0 --agent``: the server, its URL and its agent's pid; killed if it
    is still running at the end."""
    server = subprocess.Popen(
        [sys.executable, "-m", "mloop", "serve", "--port", "0", "--agent"],
        cwd=served.root,
        env=agent_env(served),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]  # serving URL: the agent has been started
        agents = wait_until(lambda: _children(server.pid), what="the agent process")
        yield server, url, agents[0]
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


def test_the_agent_stops_when_its_server_is_killed(served: Workspace) -> None:
    write_policy(served, policy_toml())
    with _serve_with_agent(served) as (server, _, agent):
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        started = time.monotonic()
        wait_until(lambda: not _alive(agent), timeout=15, what="the orphaned agent to stop")
        assert time.monotonic() - started < 15


def test_sigterm_stops_the_agent_while_the_server_still_answers(served: Workspace) -> None:
    """A request in flight keeps the server draining for seconds (a rolling update's SIGTERM);
    the agent, which would hand its job back on SIGTERM, must not wait for that to end."""
    slow = models.slow(served, "slow")  # 3 s for a row with monthly_charges over 60
    promote(
        served.store, served.artifacts, name="slow", version=slow.version, alias="live",
        gate=None, actor="tester",
    )  # fmt: skip
    deploy(served.store, "slow", "slow@live", actor="tester")
    with (
        _serve_with_agent(served) as (server, url, agent),
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        wait_until(lambda: http.get("/health/ready").status_code == 200, what="both endpoints")
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answer = pool.submit(
                http.post,
                "/v1/endpoints/slow/predict",
                json={"instances": [{"tenure_months": 3, "monthly_charges": 80.0}]},
            )
            time.sleep(1)  # the request is in the model's 3 s
            os.kill(server.pid, signal.SIGTERM)
            wait_until(lambda: not _alive(agent), timeout=10, what="the agent to stop")
            assert server.poll() is None, "the server was gone before its agent"
            assert not answer.done(), "the request was answered before the agent stopped"
            assert answer.result().status_code == 200
        assert server.wait(timeout=30) == 0
        assert time.monotonic() - started >= 3  # the server did drain the request
