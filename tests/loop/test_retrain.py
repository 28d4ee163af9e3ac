"""`mloop retrain`: a manual trigger that runs in the foreground without an agent, joins the
active job (exit 0, naming it), holds off within the cool-down, and never deploys a candidate
its gate blocks."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from mloop.workspace import Workspace
from tests.conftest import run_mloop
from tests.loop.conftest import agent_env, policy_toml, wait_for_agent, wait_until, write_policy


def _champion(cli: Any) -> int:
    shown = json.loads(cli("endpoints", "show", "churn", "--json").stdout)
    return int(shown["live"]["primary"]["version"])


def test_without_an_agent_the_job_runs_in_the_foreground(cli: Any, served: Workspace) -> None:
    write_policy(served, policy_toml())
    result = cli("retrain", "churn", "--reason", "new month", "--json")
    assert result.exit_code == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert job["trigger"] == {"kind": "manual", "by": "tester", "reason": "new month"}
    assert job["dataset"] == "churn@1" and len(job["runs"]) == 1
    assert job["model_versions"] == ["churn@2"] and job["verdict_id"]
    assert job["revisions"] == [2]  # no rollout declared: the alias moved and the endpoint followed
    assert _champion(cli) == 2
    shown = json.loads(cli("jobs", "show", job["id"], "--json").stdout)
    assert shown["status"] == "succeeded" and shown["runs"] == job["runs"]
    assert "running it here" in result.stderr


def test_a_candidate_the_gate_blocks_is_registered_and_never_deployed(
    cli: Any, served: Workspace
) -> None:
    """A gate that wants a human approval: an automated job cannot give one, so it blocks, and
    the reason says how to approve and promote by hand."""
    write_policy(served, policy_toml(gate="human"))
    result = cli("retrain", "churn")
    assert result.exit_code == 1
    assert "status=rejected" in result.stdout and "model=churn@2" in result.stdout
    assert "mloop models approve churn 2" in result.stdout
    assert _champion(cli) == 1
    version = json.loads(cli("models", "show", "churn@2", "--json").stdout)
    assert [v["gate"] for v in version["verdicts"]] == ["human"]
    assert version["verdicts"][0]["passed"] is False


def test_a_policy_naming_no_endpoint_never_moves_the_alias_real_endpoints_follow(
    cli: Any, served: Workspace
) -> None:
    """[policies.ghost] with a gate and no rollout would gate against churn@champion (the default
    alias) and move it, so endpoint churn, following it, would serve the candidate."""
    from mloop.loop import jobs
    from mloop.loop.agent import Agent

    write_policy(served, policy_toml().replace("[policies.churn]", "[policies.ghost]"))
    said = (
        "[policies.ghost] in mloop.toml retrains endpoint 'ghost', which is not deployed "
        "(endpoints are: churn); a policy is named after the endpoint it retrains, so rename the "
        "table (e.g. [policies.churn]) or deploy it first (`mloop deploy ghost MODEL_REF`)."
    )
    result = cli("retrain", "ghost")
    assert result.exit_code == 2, result.stdout
    assert said in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert jobs.list_jobs(served.store) == []
    # a job recorded anyway (a schedule, or before the endpoint was deleted) fails before training
    queued = jobs.record_trigger(
        served.store,
        endpoint="ghost",
        trigger={"kind": "manual", "by": "tester"},
        cooldown=dt.timedelta(0),
        policy={},
        actor="tester",
    )
    lines: list[str] = []
    agent = Agent(served, log=lines.append)
    assert lines == [f"config: {said} Until then the agent records no job for its triggers."]
    agent.run(once=True)
    job = jobs.get_job(served.store, queued.job.id)
    assert (job.status, job.reason, job.outputs.get("runs")) == ("failed", said, None)
    assert _champion(cli) == 1
    assert cli("models", "show", "churn@2").exit_code == 2, "nothing was trained or registered"


ROLLOUT = """
[policies.churn.rollout]
strategy = "canary"
weight = 20
min_sample = 200
watch = "1h"
"""


def test_no_wait_without_an_agent_says_nothing_will_decide_the_live_rollout(
    cli: Any, served: Workspace
) -> None:
    from mloop.loop import jobs, state

    write_policy(served, policy_toml(extra=ROLLOUT))
    result = cli("retrain", "churn", "--no-wait", "--json")
    assert result.exit_code == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "running" and job["rollout_id"]
    notice = (
        f"No agent is running, so nothing decides rollout {job['rollout_id']} of churn@2 on "
        f"'churn': it stays live, undecided, and job {job['id']} waits until `mloop agent` (or "
        "`mloop serve --agent`) runs."
    )
    said = " ".join(result.stderr.split())
    returned = f"is live --no-wait: returning without watching it {notice}"
    assert f"rollout {job['rollout_id']} of churn@2 on 'churn' {returned}" in said
    assert "watching it until" not in said, "it says it returns, never that it watches"
    joined = cli("retrain", "churn", "--no-wait")  # joins the watched job: still nobody decides
    assert joined.exit_code == 0 and "status=coalesced" in joined.stdout
    assert notice in " ".join(joined.stderr.split())
    with served.store.transaction() as conn:  # an agent's fresh heartbeat: it will decide
        state.put(conn, "agent:agent@elsewhere", {"tick": 5.0}, jobs.now_utc())
    attended = cli("retrain", "churn", "--no-wait")
    assert attended.exit_code == 0 and "No agent is running" not in attended.stderr


def test_a_waiting_retrain_says_it_watches_the_rollout_and_does(
    cli: Any, served: Workspace
) -> None:
    write_policy(served, policy_toml(extra=ROLLOUT.replace('"1h"', '"1s"')))
    result = cli("retrain", "churn")  # no traffic in 1s: the guardrails reject the candidate
    assert result.exit_code == 1 and "status=rejected" in result.stdout, result.stderr
    said = " ".join(result.stderr.split())
    assert "on 'churn' is live watching it until its guardrails decide" in said
    assert "--no-wait" not in said and "No agent is running" not in said


def test_within_the_cooldown_a_retrain_joins_the_last_job(cli: Any, served: Workspace) -> None:
    write_policy(served, policy_toml(cooldown="1h"))
    first = json.loads(cli("retrain", "churn", "--json").stdout)
    again = cli("retrain", "churn")
    assert again.exit_code == 0
    assert "status=coalesced" in again.stdout and f"joined={first['id']}" in again.stdout
    assert "cool-down" in again.stdout


def test_a_retrain_while_the_agent_runs_a_job_exits_0_naming_it(
    cli: Any, served: Workspace, start_agent: Any
) -> None:
    write_policy(served, policy_toml(model="slowmodel:slow"))
    (served.root / "slow.flag").write_text("20")  # killed at the end
    agent = start_agent()
    wait_for_agent(served)
    queued = cli("retrain", "churn", "--no-wait")
    assert "queued for agent" in queued.stderr, queued.stderr
    assert agent.poll() is None
    wait_until(lambda: (served.root / "started.flag").exists(), what="the job to start training")
    joined = run_mloop("retrain", "churn", cwd=served.root, env=agent_env(served))
    assert joined.returncode == 0, joined.stderr
    running = json.loads(cli("jobs", "ls", "--kind", "retrain", "--json").stdout)[-1]
    assert "status=coalesced" in joined.stdout
    assert f"joined={running['id']}" in joined.stdout
    assert f"joined job {running['id']} (running)" in joined.stdout


def test_a_killed_foreground_retrain_is_picked_up_by_the_next_one(
    cli: Any, served: Workspace
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from mloop.loop import jobs

    write_policy(served, policy_toml(model="slowmodel:slow"))
    (served.root / "slow.flag").write_text("60")
    first = subprocess.Popen(
        [sys.executable, "-m", "mloop", "retrain", "churn"],
        cwd=served.root,
        env=agent_env(served),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: (served.root / "started.flag").exists(), what="the job to start training")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    (served.root / "slow.flag").unlink()
    [killed] = jobs.list_jobs(served.store)
    time.sleep(2.5)  # the 2 s lease lapses
    again = cli("retrain", "churn")
    assert again.exit_code == 0, again.stderr
    assert "status=coalesced" in again.stdout and f"joined={killed.id}" in again.stdout
    retried = jobs.get_job(served.store, killed.id)
    assert retried.status == "succeeded" and retried.attempts == 2, retried.reason
    assert len(retried.to_dict()["interruptions"]) == 1


def test_a_pipeline_policy_takes_the_version_its_steps_registered(
    cli: Any, served: Workspace
) -> None:
    import shutil
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "pipelines.py"
    shutil.copy(example, served.root / "pipelines.py")
    text = policy_toml(gate=None).replace(
        'train = { target = "churned", model = "logistic", seed = 3, register = "churn", params = { C = 1.0 } }',
        'train = { pipeline = "churn", params = { C = 0.5 } }',
    )
    write_policy(served, text)
    result = cli("retrain", "churn", "--json")
    assert result.exit_code == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded", job["reason"]
    assert job["model_versions"] == ["churn-pipeline@1"]
    assert job["steps"][:2] == ["data", "pipeline"] and job["dataset"] == "churn@1"
    runs = json.loads(cli("pipeline", "ls", "--json").stdout)
    assert len(runs) == 1 and runs[0]["params"]["C"] == 0.5
    assert runs[0]["params"]["data"] == "churn@1"  # the policy's data, as the pipeline's data


def test_a_pipeline_without_a_data_parameter_is_refused_before_any_data_is_made(
    cli: Any, served: Workspace
) -> None:
    (served.root / "pipelines.py").write_text(
        "import mloop\n\n"
        "@mloop.step\n"
        "def fit(C: float) -> float:\n"
        "    return C\n\n"
        "@mloop.pipeline\n"
        "def churn(C: float = 1.0):\n"
        "    return fit(C)\n"
    )
    text = policy_toml(gate=None, data='{ log = "7d" }').replace(
        'train = { target = "churned", model = "logistic", seed = 3, register = "churn", params = { C = 1.0 } }',
        'train = { pipeline = "churn", target = "churned" }',
    )
    write_policy(served, text)
    result = cli("retrain", "churn", "--json")
    assert result.exit_code == 1
    job = json.loads(result.stdout)
    assert job["status"] == "failed"
    assert "passed to pipeline 'churn' as its 'data' parameter, and it has none" in job["reason"]
    datasets = json.loads(cli("data", "ls", "--json").stdout)
    assert [d["name"] for d in datasets] == ["churn"]  # no churn-log snapshot was made


def _rolled_out_without_an_agent(cli: Any, served: Workspace) -> dict[str, Any]:
    """A job watching its live rollout, whose 1s watch runs out with no traffic (so it is due,
    and short of min_sample: rolled back)."""
    write_policy(served, policy_toml(extra=ROLLOUT.replace('"1h"', '"1s"')))
    started = json.loads(cli("retrain", "churn", "--no-wait", "--json").stdout)
    assert started["status"] == "running" and started["rollout_id"], started
    time.sleep(1.2)
    return started


def test_rollouts_check_ends_the_job_that_owns_the_rollout_at_once(
    cli: Any, served: Workspace
) -> None:
    from mloop.loop.agent import Agent

    started = _rolled_out_without_an_agent(cli, served)
    checked = cli("rollouts", "check", started["rollout_id"])
    assert checked.exit_code == 1, checked.stderr  # rolled back
    rollout = json.loads(cli("rollouts", "show", started["rollout_id"], "--json").stdout)
    job = json.loads(cli("jobs", "show", started["id"], "--json").stdout)
    assert rollout["status"] == "rolled_back"
    assert (job["status"], job["reason"]) == ("rejected", rollout["reason"])
    assert job["ended_at"] and job["lease_owner"] is None
    assert job["revisions"] == [rollout["started_revision"], rollout["decided_revision"]]
    assert f"job {started['id']} rejected" in " ".join(checked.stdout.split())
    lines: list[str] = []
    Agent(served, log=lines.append).run(once=True)  # the next tick has nothing left to do
    assert not [line for line in lines if started["id"] in line], lines
    assert json.loads(cli("jobs", "show", started["id"], "--json").stdout) == job


def test_rollouts_check_leaves_a_job_whose_lease_is_held_to_its_holder(
    cli: Any, served: Workspace
) -> None:
    """An agent holds the lease from starting the rollout until it lets go to watch it: only it
    may end the job meanwhile. Once it let go, the next check of the decided rollout ends it."""

    from mloop.loop import jobs
    from mloop.store import tables as t

    started = _rolled_out_without_an_agent(cli, served)
    holder, until = "agent@elsewhere:1:abcd", jobs.now_utc() + dt.timedelta(minutes=5)
    with served.store.transaction() as conn:
        conn.execute(
            t.jobs.update()
            .where(t.jobs.c.id == started["id"])
            .values(lease_owner=holder, lease_expires_at=until)
        )
    checked = cli("rollouts", "check", started["rollout_id"])
    assert checked.exit_code == 1
    job = jobs.get_job(served.store, started["id"])
    assert (job.status, job.lease_owner) == ("running", holder)
    assert f"{holder} holds its lease" in " ".join(checked.stdout.split())
    jobs.watch(served.store, started["id"], owner=holder, reason="watching")  # it lets go
    again = cli("rollouts", "check", started["rollout_id"])
    assert again.exit_code == 1 and f"job {job.id} rejected" in again.stdout
    job = jobs.get_job(served.store, started["id"])
    assert job.status == "rejected" and len(job.outputs["revisions"]) == 2
    assert not jobs.finish(served.store, job.id, status="rejected", reason="x", owner=None)
