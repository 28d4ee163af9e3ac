"""The examples are programs users copy: run them as they would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import run_mloop

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "churn"


def test_churn_generator_and_pipeline_script(tmp_path: Path) -> None:
    assert run_mloop("init", ".", cwd=tmp_path).returncode == 0
    data = tmp_path / "churn.csv"
    gen = subprocess.run(
        [sys.executable, EXAMPLES / "generate.py", "--rows", "800", "--out", data],
        capture_output=True,
        text=True,
    )
    assert gen.returncode == 0, gen.stderr
    drifted = tmp_path / "later.parquet"
    gen2 = subprocess.run(
        [
            sys.executable,
            EXAMPLES / "generate.py",
            "--rows",
            "800",
            "--month",
            "2",
            "--drift",
            "--out",
            drifted,
        ],
        capture_output=True,
        text=True,
    )
    assert gen2.returncode == 0, gen2.stderr
    result = subprocess.run(
        [
            sys.executable,
            EXAMPLES / "train.py",
            "--data",
            data,
            "--out",
            tmp_path / "out",
            "--register",
            "churn-script",
            "--n-estimators",
            "20",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert lines["model"] == "churn-script@1" and float(lines["metric.roc_auc"]) > 0.6
    assert (tmp_path / "out" / "model.skops").exists()
    run = run_mloop("runs", "show", lines["run"], "--json", cwd=tmp_path)
    assert run.returncode == 0
    assert '"val_log_loss"' in run.stdout and '"churn@1"' in run.stdout
    lineage = run_mloop("models", "lineage", "churn-script@1", cwd=tmp_path)
    assert lineage.returncode == 0 and "data (train): churn@1" in lineage.stdout
    validate = run_mloop("data", "validate", "churn", drifted, cwd=tmp_path)
    assert validate.returncode == 1 and "Crypto wallet" in validate.stdout


def test_the_http_client_example_against_a_real_server(tmp_path: Path) -> None:
    """examples/churn/client.py, as make demo runs it: ready, a 200 and a 422, a sticky canary."""
    from mloop.endpoints.service import deploy
    from mloop.workspace import Workspace
    from tests.serving.server_harness import build_workspace, running

    root = build_workspace(tmp_path / "ws", models=2)
    with Workspace.open(root, environ={"MLOOP_USER": "tester"}) as ws:
        deploy(ws.store, "churn", "churn@1", canary="churn@2", weight=50, actor="tester")
    customers = tmp_path / "customers.csv"
    gen = [sys.executable, EXAMPLES / "generate.py", "--rows", "60", "--seed", "7"]
    subprocess.run([*gen, "--out", customers], check=True, capture_output=True)

    def client(*args: object) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, EXAMPLES / "client.py", *map(str, args)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    with running(root, ready=False) as server:
        waited = client("ready", server.url, "--revision", "churn=2")
        assert waited.returncode == 0, waited.stderr
        assert '"revision":2' in waited.stdout
        asked = client("predict", server.url, "churn", "--data", customers)
        assert asked.returncode == 0, asked.stdout + asked.stderr
        assert "1 row -> 200" in asked.stdout and "2 broken rows -> 422" in asked.stdout
        assert '"rule": "allowed", "value": "Crypto wallet"' in asked.stdout
        assert "X-Ignored-Fields: customer_id, signup_date" in asked.stdout
        split = client("traffic", server.url, "churn", "--data", customers, "--requests", "40")
        assert split.returncode == 0, split.stdout + split.stderr
        assert "40 requests: 40x 200" in split.stdout
        assert "answered by churn@1" in split.stdout and "answered by churn@2" in split.stdout
        drifted = tmp_path / "month2.csv"
        subprocess.run(
            [*gen, "--month", "2", "--drift", "--out", drifted], check=True, capture_output=True
        )
        month = client("month", server.url, "churn", "--data", drifted)
        assert month.returncode == 0, month.stdout + month.stderr
        answered = dict(
            (int(status), int(count)) for count, status in re.findall(r"(\d+)x (\d+)", month.stdout)
        )
        assert sum(answered.values()) == 60 and set(answered) <= {200, 422}
        assert answered[200] > 0
        wanted = {f"C02-{i:06d}" for i in range(60)}
        keys: set[str] = set()
        deadline = time.monotonic() + 10  # the log is flushed every second (everysec)
        while not wanted <= keys and time.monotonic() < deadline:
            log = run_mloop("logs", "churn", "--json", "--limit", "1000", cwd=root)
            assert log.returncode == 0
            keys = {r["routing_key"] for r in json.loads(log.stdout)}
        assert wanted <= keys  # every request carried its key
    never = client("ready", server.url, "--timeout", "0.5")
    assert never.returncode == 1 and "not ready after 0.5 s" in never.stderr
    typo = client("ready", server.url, "--revision", "churn")
    assert typo.returncode == 2 and "ENDPOINT=N" in typo.stderr


def test_the_webhook_receiver_example_is_down_first_then_prints_each_alert(
    tmp_path: Path,
) -> None:
    port_file = tmp_path / "port"
    receiver = subprocess.Popen(
        [sys.executable, EXAMPLES / "receiver.py", "--port-file", port_file, "--fail-first", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}/alerts"
        alert = {"kind": "drift", "message": "3 of 12 columns drifted"}
        codes = [httpx.post(url, json=alert, timeout=10).status_code for _ in range(3)]
        assert codes == [503, 503, 200]
    finally:
        receiver.terminate()
        out, _ = receiver.communicate(timeout=10)
    assert "receiver: alert drift: 3 of 12 columns drifted" in out


def test_the_tour_script_parses_and_always_stops_its_server() -> None:
    """make tour takes minutes, so the suite checks its shape: valid bash, the server stopped on
    every way out (an EXIT trap), and the venv overridable for runs from a worktree."""
    script = EXAMPLES.parent / "tour.sh"
    assert subprocess.run(["bash", "-n", script], capture_output=True).returncode == 0
    text = script.read_text()
    assert "trap stop_server EXIT" in text and "serve --port 0" in text
    assert 'kill -TERM "$SERVER_PID"' in text and "MLOOP_DEMO_BIN" in text
