"""The simulated world around the served model: customers calling it, labels coming back later,
and an on-call webhook receiver. Real HTTP on loopback, as an application would call mloop."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from mloop.demo.narration import StoryFailed

TARGET = "churned"


def read_customers(path: Path) -> pd.DataFrame:
    """Only an empty cell is missing: pandas would also read the category "None" (no internet
    service) as missing, and the server would rightly refuse it."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def customer_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as the JSON a caller sends: no label, dates as plain dates, NaN as null."""
    body = frame.drop(columns=[TARGET], errors="ignore")
    rows: list[dict[str, Any]] = json.loads(body.to_json(orient="records", date_format="iso"))
    for row in rows:
        stamp = row.get("signup_date")
        if isinstance(stamp, str):
            row["signup_date"] = stamp[:10]
    return rows


class Server:
    """``mloop serve --port 0`` (with ``--agent``) in the background, stopped with SIGTERM."""

    def __init__(self, workspace: Path, log: Path, *, agent: bool) -> None:
        self.workspace = workspace
        self.log = log
        args = [sys.executable, "-m", "mloop", "serve", "--port", "0"]
        if agent:
            args.append("--agent")
        self.command = "mloop " + " ".join(args[3:])
        with log.open("w") as out:
            self.process = subprocess.Popen(
                args, cwd=workspace, stdout=out, stderr=subprocess.STDOUT, text=True
            )
        self.url = self._url()

    def _url(self, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(r"^serving (http\S+)", self.log.read_text(), re.M)
            if found:
                return found.group(1).rstrip("/")
            if self.process.poll() is not None:
                raise StoryFailed(f"mloop serve exited {self.process.returncode}: {self.tail()}")
            time.sleep(0.1)
        raise StoryFailed(f"mloop serve printed no URL in {timeout_s:.0f} s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text().splitlines()[-lines:])

    def wait_revision(self, endpoint: str, revision: int, timeout_s: float = 60.0) -> None:
        """Until the server answers for ``endpoint`` at ``revision`` (it follows the store)."""
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    answer = client.get("/health/ready")
                    if answer.status_code == 200:
                        served = _revisions(answer.json()).get(endpoint)
                        if served is not None and served >= revision:
                            return
                time.sleep(0.2)
        raise StoryFailed(f"the server did not serve {endpoint} revision {revision} in time.")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return int(self.process.returncode or 0)


def _revisions(ready: Any) -> dict[str, int]:
    """``{endpoint: revision}`` from GET /health/ready's body."""
    endpoints = ready.get("endpoints", {}) if isinstance(ready, dict) else {}
    return {
        str(name): state["revision"]
        for name, state in endpoints.items()
        if isinstance(state, dict) and isinstance(state.get("revision"), int)
    }


def send(
    url: str,
    endpoint: str,
    rows: list[dict[str, Any]],
    *,
    clients: int = 16,
    stop: threading.Event | None = None,
) -> Counter[str]:
    """Each row as one request keyed by its customer id, ``clients`` callers at a time (the
    server batches concurrent requests, so more callers cost it less CPU per request).

    Counts answers by status and by the model version that gave them (``"200 churn@2"``).
    """
    path = f"/v1/endpoints/{endpoint}/predict"

    def call(chunk: list[dict[str, Any]]) -> Counter[str]:
        seen: Counter[str] = Counter()
        with httpx.Client(base_url=url, timeout=30) as client:
            for row in chunk:
                if stop is not None and stop.is_set():
                    break
                headers = {"X-Routing-Key": str(row["customer_id"])}
                answer = client.post(path, json={"dataframe_records": [row]}, headers=headers)
                if answer.status_code == 200:
                    body = answer.json()
                    seen[f"200 {body.get('model')}@{body.get('version')}"] += 1
                else:
                    seen[str(answer.status_code)] += 1
        return seen

    total: Counter[str] = Counter()
    with ThreadPoolExecutor(clients) as pool:
        for seen in pool.map(call, [rows[i::clients] for i in range(clients)]):
            total.update(seen)
    return total


def describe(counts: Counter[str]) -> str:
    return ", ".join(f"{n:,} × {what}" for what, n in sorted(counts.items()))


@contextlib.contextmanager
def receiver(fail_first: int = 0) -> Iterator[tuple[str, list[str]]]:
    """A webhook receiver on loopback (down for its first ``fail_first`` posts): (url, messages)."""
    messages: list[str] = []
    failures = [fail_first]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if failures[0] > 0:
                failures[0] -= 1
                self.send_response(503)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            with contextlib.suppress(ValueError):
                alert = json.loads(body)
                messages.append(f"{alert.get('kind')}: {alert.get('message')}")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", messages
    finally:
        server.shutdown()
        server.server_close()
