"""Joining a running Ray cluster (``MLOOP_RAY_ADDRESS``): a real ``ray start --head`` on loopback,
started once for this module, with token authentication on (Ray's default for a new cluster)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_mloop
from tests.executors.sockets import listeners
from tests.executors.test_ray_executor import ray_processes_of

pytest.importorskip("ray", reason="the Ray tests need mloop[ray]")

ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_hex(32)
QUIET = {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT / "src")}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    """``ray start --head --block`` on loopback (Ray binds 127.0.0.1 only with its clusters
    switch off, as mloop's private Ray does), stopped with the signal ``--block`` waits for."""
    port = _free_port()
    env = {
        **os.environ,
        **QUIET,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": TOKEN,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    command = [
        sys.executable, "-c", "from ray.scripts.scripts import main; main()",
        "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
        "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
    ]  # fmt: skip
    head = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert head.stdout is not None
        seen = []
        for line in head.stdout:  # --block prints this, then waits
            seen.append(line)
            if "Ray runtime started" in line:
                break
        else:
            pytest.fail("ray start --head did not start:\n" + "".join(seen[-20:]))
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=30)
        finally:
            if head.stdout is not None:
                head.stdout.close()
            for pid, _ in ray_processes_of(head.pid):  # whatever ignored the stop
                os.kill(pid, signal.SIGKILL)


def _driver(address: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = (
        "import os\n"
        "from mloop.executors import ExecutorSettings, open_executor\n"
        f"with open_executor(ExecutorSettings(kind='ray', ray_address={address!r})) as ex:\n"
        "    pids = {f.result() for f in [ex.submit(os.getpid) for _ in range(4)]}\n"
        "    print(ex.owns_cluster, ex.parallelism, os.getpid() in pids)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLOOP_"))}
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, **QUIET, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_driver_joins_the_cluster_and_leaves_it_running(address: str) -> None:
    for _ in range(2):  # the second driver finds the cluster the first one left
        done = _driver(address, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["False", "2", "False"]
    gcs = [found for found in listeners(_every_pid()) if found.port == int(address.split(":")[1])]
    assert gcs and all(found.loopback for found in gcs)


def _every_pid() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def test_without_the_token_the_error_says_how_to_authenticate(address: str) -> None:
    done = _driver(address, RAY_NUM_REDIS_GET_RETRIES="2")
    assert done.returncode != 0
    assert "RAY_AUTH_MODE=token" in done.stderr


def test_a_sweep_runs_on_the_joined_cluster(address: str, tmp_path: Path) -> None:
    from mloop.demo_data import generate

    env = {
        **QUIET,
        "MLOOP_USER": "tester",
        "MLOOP_EXECUTOR": "ray",
        "MLOOP_RAY_ADDRESS": address,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": TOKEN,
    }
    generate(400, seed=1).to_csv(tmp_path / "churn.csv", index=False)
    assert run_mloop("init", cwd=tmp_path, env=env).returncode == 0
    assert run_mloop("data", "add", "churn", "churn.csv", cwd=tmp_path, env=env).returncode == 0
    args = ["train", "--data", "churn", "--target", "churned", "--sweep", "C=0.1,1", "--json"]
    done = run_mloop(*args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["executor"] == "ray" and out["parallelism"] == 2
    assert [t["status"] for t in out["trials"]] == ["FINISHED", "FINISHED"]
