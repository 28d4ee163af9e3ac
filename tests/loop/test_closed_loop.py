"""The whole loop on a real server: `mloop serve --agent` answers month-2 customers, labels come
back, the policy is edited to listen to drift (the agent re-reads it), the agent's own monitor
run (monitor_every) raises a drift alert, the alert starts a job
that trains on the log's inputs joined with their labels (validated, snapshotted as a dataset
version), the gate passes and the endpoint moves to the new model."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import httpx

from mloop.demo_data import generate
from mloop.loop import jobs
from mloop.workspace import Workspace
from tests.loop.conftest import agent_env, policy_toml, wait_until, write_policy

MONITOR = """
[monitors.churn]
window = "1h"
thresholds = ["drift_share <= 0.1"]
"""


def _month2(count: int) -> tuple[list[dict[str, Any]], list[bool]]:
    frame = generate(count, seed=11, month=2, drift=True)
    # a payment method the model never saw is refused at the door; the rest of the drift gets in
    frame["payment_method"] = frame["payment_method"].replace("Crypto wallet", "Electronic check")
    labels = [bool(v) for v in frame.pop("churned")]
    return json.loads(frame.to_json(orient="records", date_format="iso")), labels


def test_drift_in_the_log_retrains_on_the_labelled_log(
    cli: Any, served: Workspace, tmp_path: Any
) -> None:
    write_policy(served, policy_toml(data='{ log = "1d" }'))  # manual only, for now
    with (tmp_path / "server.err").open("w") as errors:
        server = subprocess.Popen(
            [sys.executable, "-m", "mloop", "serve", "--port", "0", "--agent"],
            cwd=served.root,
            env=agent_env(served),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[1]
        wait_until(lambda: httpx.get(f"{url}/health/ready", timeout=5).status_code == 200)
        rows, labels = _month2(400)
        for start in range(0, len(rows), 100):
            answer = httpx.post(
                f"{url}/v1/endpoints/churn/predict",
                json={"instances": rows[start : start + 100]},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            ids = answer.json()["ids"]
            sent = [
                {"id": i, "label": y} for i, y in zip(ids, labels[start : start + 100], strict=True)
            ]
            fed = httpx.post(
                f"{url}/v1/endpoints/churn/feedback", json={"labels": sent}, timeout=30
            )
            assert fed.status_code == 200 and fed.json()["matched"] == len(sent), fed.text

        # with every label in, the policy starts listening to drift alerts and the agent to
        # monitor: it re-reads mloop.toml on its next tick
        text = policy_toml(
            triggers='[{ kind = "alert", alert = "drift" }]', data='{ log = "1d" }', cooldown="1h"
        ).replace("[agent]\n", '[agent]\nmonitor_every = "1s"\n')
        write_policy(served, text + MONITOR)

        def ended() -> jobs.RetrainJob | None:
            found = [j for j in jobs.list_jobs(served.store) if j.status in jobs.ENDED]
            return found[-1] if found else None

        job = wait_until(ended, timeout=90, what="the alert's retraining to end")
        assert job.status == "succeeded", job.reason
        assert job.trigger["kind"] == "alert" and job.trigger["alert"] == "drift"
        shown = job.to_dict()
        assert shown["dataset"] == "churn-log@1"
        assert shown["model_versions"] == ["churn@2"]
        dataset = json.loads(cli("data", "show", "churn-log", "--json").stdout)
        assert dataset["row_count"] == 400
        endpoint = json.loads(cli("endpoints", "show", "churn", "--json").stdout)
        assert endpoint["live"]["primary"]["ref"] == "churn@2"
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    log = (tmp_path / "server.err").read_text()
    assert "config: reloaded mloop.toml" in log, log
    assert "monitor churn: 1 new alert(s)" in log and "snapshotted the labelled log" in log, log
