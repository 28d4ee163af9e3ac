"""Shared pieces of the reliability tests (tests/serving/test_reliability_*.py).

Training the churn models costs ~15 s on a loaded machine, so one workspace with four versions of
``churn`` (endpoint ``churn`` serving churn@1) is built once per test session and each module gets
its own copy (the store and artifact URLs in mloop.toml are relative, so a copy is a workspace).

``Load`` drives a real server with N client threads, each its own ``httpx.Client`` (keep-alive
connections, as real clients use), and records every request: when it was sent and answered
(wall clock, comparable with the store's ``created_at``), its status and body.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.server_harness import build_workspace, churn_rows, mloop_env

_TEMPLATE: dict[str, Path] = {}


def workspace_copy(factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh copy of the session's trained workspace (churn@1..4, endpoint churn → churn@1)."""
    if "ws" not in _TEMPLATE:
        _TEMPLATE["ws"] = build_workspace(factory.mktemp("reliability-template") / "ws", models=4)
    target = factory.mktemp(name) / "ws"
    shutil.copytree(_TEMPLATE["ws"], target)
    return target


def mloop(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``mloop ARGS`` as a separate process in the workspace, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "mloop", *args],
        cwd=root,
        env=mloop_env(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Sent:
    """One request as the client saw it; ``status`` 0 is a transport error (no answer)."""

    client: int
    request_id: str
    sent: float  # time.time() just before sending
    answered: float  # time.time() once the answer (or the error) was in
    status: int
    body: dict[str, Any] | None
    error: str | None = None


BodyFor = Callable[[int, int], tuple[str, dict[str, Any], dict[str, str]]]


def one_row_body(endpoint: str) -> BodyFor:
    """Each request one fresh churn row to ``endpoint``'s /v1 predict."""
    rows = churn_rows(256, seed=21)

    def body(client: int, n: int) -> tuple[str, dict[str, Any], dict[str, str]]:
        return f"/v1/endpoints/{endpoint}/predict", {"instances": [rows[n % len(rows)]]}, {}

    return body


@dataclass
class Load:
    """``clients`` threads sending requests (built by ``body_for``) until ``stop()``."""

    url: str
    clients: int
    body_for: BodyFor
    prefix: str = "req"
    timeout_s: float = 30.0
    sent: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for client in range(self.clients):
            thread = threading.Thread(target=self._run, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> list[Sent]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 10)
        assert not any(t.is_alive() for t in self._threads), "a client thread hung"
        with self._lock:
            return sorted(self.sent, key=lambda s: s.sent)

    def so_far(self) -> list[Sent]:
        """The requests answered (or failed) until now, while the load goes on."""
        with self._lock:
            return list(self.sent)

    def _run(self, client: int) -> None:
        with httpx.Client(base_url=self.url, timeout=self.timeout_s) as http:
            for n in itertools.count():
                if self._stop.is_set():
                    return
                path, body, headers = self.body_for(client, n)
                request_id = f"{self.prefix}-{client}-{n}"
                sent = time.time()
                try:
                    response = http.post(
                        path, json=body, headers={"X-Request-ID": request_id, **headers}
                    )
                    answered = time.time()
                    try:
                        payload = response.json()
                    except ValueError:
                        payload = {"unparsed": response.text[:200]}
                    record = Sent(client, request_id, sent, answered, response.status_code, payload)
                except httpx.TransportError as exc:
                    record = Sent(client, request_id, sent, time.time(), 0, None, repr(exc))
                    time.sleep(0.05)  # the server is gone: do not spin
                with self._lock:
                    self.sent.append(record)
