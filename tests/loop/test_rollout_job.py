"""A retraining job through its rollout on a real server: `mloop serve --agent` runs the agent
beside the server; the gated candidate goes live as a canary, and a watch that ends short of
min_sample rolls it back and ends the job rejected with the rollout's reason."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from typing import Any

import httpx

from mloop.loop import jobs
from mloop.workspace import Workspace
from tests.loop.conftest import agent_env, policy_toml, wait_for_agent, wait_until, write_policy
from tests.serving.server_harness import churn_rows

LOW_TRAFFIC = """
[policies.churn.rollout]
strategy = "canary"
weight = 50
min_sample = 200
watch = "4s"
guardrails = ["error_rate <= 0.01"]
"""


def _predict(url: str, rows: list[dict[str, object]]) -> None:
    for row in rows:
        answer = httpx.post(
            f"{url}/v1/endpoints/churn/predict", json={"instances": [row]}, timeout=10
        )
        assert answer.status_code == 200, answer.text


def test_a_rollout_short_of_min_sample_ends_the_job_rejected(
    cli: Any, served: Workspace, tmp_path: Any
) -> None:
    write_policy(served, policy_toml(extra=LOW_TRAFFIC))
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

        def ready() -> bool:
            return httpx.get(f"{url}/health/ready", timeout=5).status_code == 200

        wait_until(ready, what="the server to load churn@1")
        _predict(url, churn_rows(5))
        wait_for_agent(served)
        queued = cli("retrain", "churn", "--no-wait", "--json")
        assert queued.exit_code == 0, queued.stderr
        job_id = json.loads(queued.stdout)["id"]

        def live_rollout() -> bool:
            return bool(jobs.get_job(served.store, job_id).outputs.get("rollout_id"))

        wait_until(live_rollout, timeout=60, what="the candidate to go live")
        shown = json.loads(cli("endpoints", "show", "churn", "--json").stdout)
        assert shown["live"]["canary"]["ref"] == "churn@2"
        _predict(url, churn_rows(20, seed=5))  # far short of min_sample = 200

        def ended() -> jobs.RetrainJob | None:
            job = jobs.get_job(served.store, job_id)
            return job if job.status in jobs.ENDED else None

        job = wait_until(ended, timeout=60, what="the rollout's verdict")
        assert job.status == "rejected", job.reason
        assert "min_sample" in (job.reason or "") or "200" in (job.reason or ""), job.reason
        shown = json.loads(cli("endpoints", "show", "churn", "--json").stdout)
        assert shown["live"]["canary"] is None and shown["live"]["primary"]["ref"] == "churn@1"
        listed = json.loads(cli("jobs", "show", job_id, "--json").stdout)
        assert listed["model_versions"] == ["churn@2"] and listed["rollout_id"]
        assert len(listed["revisions"]) == 2  # the canary, then the way back to the champion

        # enough traffic this time (the agent re-reads the edited policy): promoted, succeeded
        write_policy(
            served, policy_toml(extra=LOW_TRAFFIC.replace("200", "10").replace('"4s"', '"60s"'))
        )
        again = cli("retrain", "churn", "--no-wait", "--json")
        assert again.exit_code == 0, again.stderr
        job_id = json.loads(again.stdout)["id"]
        wait_until(live_rollout, timeout=60, what="the second candidate to go live")

        def promoted() -> jobs.RetrainJob | None:
            _predict(url, churn_rows(5, seed=6))
            return ended()

        job = wait_until(promoted, timeout=60, what="the guardrails to promote")
        assert job.status == "succeeded", job.reason
        shown = json.loads(cli("endpoints", "show", "churn", "--json").stdout)
        assert shown["live"]["primary"]["ref"] == "churn@3" and shown["live"]["canary"] is None
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    assert server.returncode == 0, (tmp_path / "server.err").read_text()
    assert "agent" in (tmp_path / "server.err").read_text()
