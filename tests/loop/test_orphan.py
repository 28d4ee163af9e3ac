"""`mloop serve --agent` killed with SIGKILL: its agent must not live on driving rollouts alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mloop.workspace import Workspace
from tests.loop.conftest import agent_env, policy_toml, wait_until, write_policy


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


def test_the_agent_stops_when_its_server_is_killed(served: Workspace) -> None:
    write_policy(served, policy_toml())
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
        server.stdout.readline()  # serving URL: the agent has been started
        agents = wait_until(lambda: _children(server.pid), what="the agent process")
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        started = time.monotonic()
        wait_until(lambda: not _alive(agents[0]), timeout=15, what="the orphaned agent to stop")
        assert time.monotonic() - started < 15
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
