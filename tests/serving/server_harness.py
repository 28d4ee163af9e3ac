"""A real `mloop serve` process for tests: a workspace with a trained churn model, an endpoint,
and the server started as a user would, on a free loopback port, driven over HTTP.

Building the workspace trains once (in-process, a few seconds); each test module starts one server
and shares it, since starting one costs about a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mloop.cli.app import main

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "churn"))

from generate import generate

START_TIMEOUT_S = 60.0


def mloop_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    env.update({"MLOOP_WORKSPACE": str(root), "MLOOP_USER": "tester"})
    return env


def run_cli(root: Path, *args: str) -> str:
    """``mloop ARGS`` in-process, in the workspace; the test fails with its stderr if it fails."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("MLOOP_")]:
            patch.delenv(key)
        patch.setenv("MLOOP_WORKSPACE", str(root))
        patch.setenv("MLOOP_USER", "tester")
        patch.chdir(root)
        code = main([str(a) for a in args])
    assert code == 0, f"mloop {' '.join(args)} exited {code}"
    return ""


def build_workspace(root: Path, *, models: int = 1) -> Path:
    """``root``: mloop init, the churn data, ``models`` versions of ``churn`` trained, endpoint
    ``churn`` serving churn@1."""
    from mloop.endpoints.service import deploy
    from mloop.workspace import Workspace

    ws, _ = Workspace.init(root, environ={"MLOOP_USER": "tester"})
    ws.close()
    data = root / "churn.csv"
    generate(800, seed=3).to_csv(data, index=False)
    run_cli(root, "data", "add", "churn", str(data))
    for n in range(models):
        run_cli(
            root,
            "train",
            "--data",
            "churn",
            "--target",
            "churned",
            "--seed",
            str(n),
            "--model",
            "logistic",
            "--param",
            f"C={1.0 / (n + 1)}",
            "--register",
            "churn",
        )
    with Workspace.open(root, environ={"MLOOP_USER": "tester"}) as ws:
        deploy(ws.store, "churn", "churn@1", actor="tester")
    return root


@dataclass
class Server:
    root: Path
    process: subprocess.Popen[str]
    url: str
    banner: list[str] = field(default_factory=list)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)  # type: ignore[arg-type]

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited {self.process.returncode}"
            try:
                last = httpx.get(f"{self.url}/health/ready", timeout=5)
                if last.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready in {timeout} s: {last and last.text}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
        return self.process.returncode

    @property
    def stderr(self) -> str:
        return (self.root / "server.err").read_text(errors="replace")


def start_server(root: Path, *flags: str, ready: bool = True) -> Server:
    with (root / "server.err").open("w") as errors:  # a file: a full pipe would stall the server
        process = subprocess.Popen(
            [sys.executable, "-m", "mloop", "serve", "--port", "0", *flags],
            cwd=root,
            env=mloop_env(root),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("serving http"):
        process.kill()
        process.communicate()
        raise AssertionError(f"server did not start: {first!r} {(root / 'server.err').read_text()}")
    server = Server(root, process, first.split()[1])
    if ready:
        server.wait_ready()
    return server


@contextmanager
def running(root: Path, *flags: str, ready: bool = True) -> Iterator[Server]:
    server = start_server(root, *flags, ready=ready)
    try:
        yield server
    finally:
        server.stop()


def churn_rows(n: int, seed: int = 9) -> list[dict[str, object]]:
    """``n`` request rows as a client has them: the features, no target."""
    import json

    frame = generate(n, seed=seed).drop(columns=["churned"])
    return json.loads(frame.to_json(orient="records", date_format="iso"))
