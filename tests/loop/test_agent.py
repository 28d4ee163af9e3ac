"""`mloop agent` as real processes on one store: two agents run a job once, a SIGKILLed agent's
job is interrupted and retried once by the next, SIGTERM hands the job back; schedules fire once
per tick period across restarts, a new dataset version triggers, and a bad config edit keeps the
last good one."""

from __future__ import annotations

import datetime as dt
import signal
from typing import Any

import pytest

from mloop.loop import jobs
from mloop.loop.agent import Agent
from mloop.workspace import Workspace
from tests.loop.conftest import agent_log, policy_toml, wait_until, write_policy


def _queue(ws: Workspace) -> str:
    recorded = jobs.record_trigger(
        ws.store,
        endpoint="churn",
        trigger={"kind": "manual", "by": "tester"},
        cooldown=dt.timedelta(0),
        policy={},
        actor="tester",
    )
    return recorded.job.id


def _ended(ws: Workspace, job_id: str) -> jobs.RetrainJob | None:
    job = jobs.get_job(ws.store, job_id)
    return job if job.status in jobs.ENDED else None


@pytest.mark.postgres
def test_two_agents_run_one_queued_job_once(served: Workspace, start_agent: Any) -> None:
    write_policy(served, policy_toml(model="slowmodel:slow"))
    (served.root / "slow.flag").write_text("1")
    job_id = _queue(served)
    first, second = start_agent(), start_agent()
    job = wait_until(lambda: _ended(served, job_id), timeout=60, what="the job to end")
    assert job.status == "succeeded", job.reason
    assert job.attempts == 1 and job.model_versions_made() == ["churn@2"]
    logs = agent_log(first) + agent_log(second)
    assert logs.count(f"job {job_id} on churn: running") == 1, logs


def test_a_sigkilled_agents_job_is_interrupted_and_retried_once(
    served: Workspace, start_agent: Any
) -> None:
    write_policy(served, policy_toml(model="slowmodel:slow"))
    (served.root / "slow.flag").write_text("60")
    job_id = _queue(served)
    killed = start_agent()
    wait_until(lambda: (served.root / "started.flag").exists(), what="the job to start training")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    assert jobs.get_job(served.store, job_id).status == "running"  # nobody knows yet
    (served.root / "slow.flag").unlink()
    survivor = start_agent()
    job = wait_until(lambda: _ended(served, job_id), timeout=60, what="the retried job to end")
    assert job.status == "succeeded", job.reason
    assert job.attempts == 2
    [interruption] = job.to_dict()["interruptions"]
    assert "lapsed" in interruption and "retried once" in interruption
    assert job.model_versions_made() == ["churn@2"]
    assert f"job {job_id} on churn: interrupted" in agent_log(survivor)


def test_sigterm_hands_the_job_back_and_exits_0(served: Workspace, start_agent: Any) -> None:
    write_policy(served, policy_toml(model="slowmodel:slow"))
    (served.root / "slow.flag").write_text("60")
    job_id = _queue(served)
    agent = start_agent()
    wait_until(lambda: (served.root / "started.flag").exists(), what="the job to start training")
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=20) == 0, agent_log(agent)
    job = jobs.get_job(served.store, job_id)
    assert job.status == "queued" and job.attempts == 0 and job.lease_owner is None
    assert "released by agent@" in (job.reason or "")
    assert "stopped" in agent_log(agent).splitlines()[-1]


def test_a_schedule_fires_once_per_tick_period_across_restarts(served: Workspace) -> None:
    """Hourly at :00, in UTC; the jobs fail fast (no such dataset), which is not the point here."""
    write_policy(
        served,
        policy_toml(
            triggers='[{ kind = "schedule", cron = "0 * * * *" }]',
            data='{ dataset = "nothing-here" }',
        ),
    )
    lines: list[str] = []
    start = dt.datetime(2026, 1, 5, 10, 30, tzinfo=dt.UTC)

    def at(agent: Agent, hour: int, minute: int, second: int = 0) -> None:
        agent.tick(now=start.replace(hour=hour, minute=minute, second=second))

    agent = Agent(served, log=lines.append)
    at(agent, 10, 30)  # the first look remembers where it is: nothing fires
    at(agent, 10, 50)
    assert jobs.list_jobs(served.store) == []
    at(agent, 11, 0, 1)
    at(agent, 11, 0, 30)
    assert [j.trigger["due"] for j in jobs.list_jobs(served.store)] == ["2026-01-05T11:00:00+00:00"]
    restarted = Agent(served, log=lines.append)
    at(restarted, 11, 10)  # a restart does not repeat 11:00
    assert len(jobs.list_jobs(served.store)) == 1
    at(restarted, 15, 45)  # 12:00 to 15:00 were missed while nothing ticked: fire once
    found = jobs.list_jobs(served.store)
    assert [j.trigger["due"] for j in found] == [
        "2026-01-05T12:00:00+00:00",
        "2026-01-05T11:00:00+00:00",
    ]
    assert all(j.status == "failed" and "nothing-here" in (j.reason or "") for j in found)


def test_a_new_dataset_version_triggers_a_retraining_on_it(
    cli: Any, served: Workspace, tmp_path: Any
) -> None:
    from mloop.demo_data import generate

    write_policy(served, policy_toml(triggers='[{ kind = "dataset", dataset = "churn" }]'))
    assert cli("agent", "--once").exit_code == 0
    assert jobs.list_jobs(served.store) == []  # churn@1 was there before: not new
    month2 = tmp_path / "month2.csv"
    generate(1200, seed=4, month=2).to_csv(month2, index=False, date_format="%Y-%m-%d")
    assert cli("data", "add", "churn", month2).exit_code == 0
    ran = cli("agent", "--once")
    assert ran.exit_code == 0, ran.stderr
    [job] = jobs.list_jobs(served.store)
    assert job.trigger["kind"] == "dataset" and job.trigger["version"] == "churn@2"
    assert job.status == "succeeded", job.reason
    assert job.to_dict()["dataset"] == "churn@2"
    assert "trigger dataset" in ran.stderr and "queued" in ran.stderr


def test_a_dataset_trigger_on_a_name_not_found_is_said_and_still_waits(
    served: Workspace,
) -> None:
    write_policy(served, policy_toml(triggers='[{ kind = "dataset", dataset = "chrun" }]'))
    lines: list[str] = []
    agent = Agent(served, log=lines.append)
    assert lines == [
        "config: [policies.churn] watches dataset 'chrun', which has no version yet; it "
        "triggers when one is added (did you mean 'churn'?)."
    ]
    agent.scan(dt.datetime.now(dt.UTC))
    assert jobs.list_jobs(served.store) == []


def test_a_bad_config_edit_keeps_the_last_good_one(served: Workspace) -> None:
    write_policy(served, policy_toml(cooldown="1h"))
    lines: list[str] = []
    agent = Agent(served, log=lines.append)
    assert agent.policies["churn"].cooldown == dt.timedelta(hours=1)
    write_policy(served, policy_toml(cooldown="an hour"))
    agent.reload()
    assert agent.policies["churn"].cooldown == dt.timedelta(hours=1)
    assert len(lines) == 1 and "Keeping the last good configuration" in lines[0]
    assert "cooldown 'an hour'" in lines[0]
    write_policy(served, policy_toml(cooldown="2h"))
    agent.reload()
    assert agent.policies["churn"].cooldown == dt.timedelta(hours=2)
    assert "reloaded" in lines[-1]


def test_a_policy_naming_no_endpoint_records_no_jobs_until_the_endpoint_is_deployed(
    cli: Any, served: Workspace, tmp_path: Any
) -> None:
    """Its triggers would each make a job that fails the same way, every cron match: the agent
    says why once and holds them, then takes them up again by itself once ghost is deployed."""
    from mloop.demo_data import generate

    triggers = (
        '[{ kind = "manual" }, { kind = "schedule", cron = "* * * * *" }, '
        '{ kind = "dataset", dataset = "churn" }]'
    )
    ghost = policy_toml(triggers=triggers, data='{ dataset = "nothing-here" }')
    write_policy(served, ghost.replace("[policies.churn]", "[policies.ghost]"))
    said = (
        "config: [policies.ghost] in mloop.toml retrains endpoint 'ghost', which is not deployed "
        "(endpoints are: churn); a policy is named after the endpoint it retrains, so rename the "
        "table (e.g. [policies.churn]) or deploy it first (`mloop deploy ghost MODEL_REF`). "
        "Until then the agent records no job for its triggers."
    )
    lines: list[str] = []
    agent = Agent(served, log=lines.append)
    start = dt.datetime(2026, 1, 5, 10, 30, tzinfo=dt.UTC)
    for minute in range(30, 34):  # a cron match every minute
        agent.tick(now=start.replace(minute=minute))
    month2 = tmp_path / "month2.csv"
    generate(300, seed=4, month=2).to_csv(month2, index=False, date_format="%Y-%m-%d")
    assert cli("data", "add", "churn", month2).exit_code == 0
    agent.tick(now=start.replace(minute=34))
    assert jobs.list_jobs(served.store) == []
    assert lines == [said]
    refused = cli("retrain", "ghost")  # by hand it is still refused, in its sentence
    assert refused.exit_code == 2 and "which is not deployed" in refused.stderr
    assert jobs.list_jobs(served.store) == []

    assert cli("deploy", "ghost", "churn@champion").exit_code == 0
    agent.tick(now=start.replace(minute=35))
    assert lines[1] == (
        "config: endpoint 'ghost' is deployed now; [policies.ghost] records jobs for its "
        "triggers again."
    )
    [job] = jobs.list_jobs(served.store)  # this minute's schedule; churn@2 came while held
    assert job.trigger["kind"] == "schedule" and job.trigger["due"].endswith("10:35:00+00:00")
    assert job.status == "failed" and "nothing-here" in (job.reason or ""), job.reason
