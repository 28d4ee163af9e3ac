"""One retraining per endpoint at a time: triggers that come meanwhile (or within the cool-down)
are recorded as coalesced jobs naming the one they joined; a claim has exactly one winner."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

from mloop.ids import new_id
from mloop.loop import jobs
from mloop.store import Store
from mloop.store import tables as t
from mloop.workspace import Workspace
from tests.loop.conftest import policy_toml, write_policy


def _alerts(ws: Workspace, count: int) -> None:
    """What a monitor writes when drift crosses its threshold, ``count`` times over."""
    now = dt.datetime.now(dt.UTC)
    with ws.store.transaction() as conn:
        for i in range(count):
            conn.execute(
                t.alerts.insert().values(
                    id=new_id(),
                    run_id=None,
                    endpoint="churn",
                    monitor="churn",
                    kind="drift",
                    metric="drift_share",
                    value=0.5 + i / 1000,
                    threshold="drift_share <= 0.3",
                    window_start=now - dt.timedelta(hours=1),
                    window_end=now,
                    message=f"drift_share {0.5 + i / 1000:.3f} is above 0.3",
                    created_at=now,
                )
            )


def test_a_storm_of_fifty_alerts_starts_one_job(cli: Any, served: Workspace) -> None:
    write_policy(served, policy_toml(triggers='[{ kind = "alert", alert = "drift" }]', gate=None))
    _alerts(served, 50)
    ran = cli("agent", "--once")
    assert ran.exit_code == 0, ran.stderr
    listed = json.loads(cli("jobs", "ls", "--kind", "retrain", "--limit", "100", "--json").stdout)
    assert len(listed) == 50
    started = [job for job in listed if job["status"] != "coalesced"]
    assert len(started) == 1 and started[0]["status"] == "succeeded", started
    coalesced = [job for job in listed if job["status"] == "coalesced"]
    assert len(coalesced) == 49
    assert {job["joined_job_id"] for job in coalesced} == {started[0]["id"]}
    assert all(job["trigger"]["kind"] == "alert" for job in listed)
    assert "joined job" in coalesced[0]["reason"]
    # seen once: the next tick starts nothing new from the same alerts
    assert cli("agent", "--once").exit_code == 0
    assert (
        len(json.loads(cli("jobs", "ls", "--kind", "retrain", "--limit", "100", "--json").stdout))
        == 50
    )


def test_triggers_at_once_from_many_connections_queue_one_job(workspace: Workspace) -> None:
    """Sixteen writers on their own connections at once (SQLite and PostgreSQL): one queued."""
    url = workspace.settings.store_url
    results: list[jobs.Recorded] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def trigger(n: int) -> None:
        store = Store.open(url)
        try:
            barrier.wait()
            results.append(
                jobs.record_trigger(
                    store,
                    endpoint="churn",
                    trigger={"kind": "alert", "n": n},
                    cooldown=dt.timedelta(0),
                    policy={},
                    actor="tester",
                )
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=trigger, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    queued = [r.job for r in results if not r.coalesced]
    assert len(queued) == 1
    assert {r.job.joined_job_id for r in results if r.coalesced} == {queued[0].id}


def test_a_job_is_claimed_once(workspace: Workspace) -> None:
    recorded = jobs.record_trigger(
        workspace.store,
        endpoint="churn",
        trigger={"kind": "manual"},
        cooldown=dt.timedelta(0),
        policy={},
        actor="tester",
    )
    first = jobs.claim(workspace.store, recorded.job.id, owner="a", lease=30)
    assert first is not None and first.attempts == 1 and first.lease_owner == "a"
    assert jobs.claim(workspace.store, recorded.job.id, owner="b", lease=30) is None
    assert jobs.renew(workspace.store, recorded.job.id, owner="a", lease=30)
    assert not jobs.renew(workspace.store, recorded.job.id, owner="b", lease=30)


def test_a_lapsed_lease_is_interrupted_then_failed_on_the_second_lapse(
    workspace: Workspace,
) -> None:
    store = workspace.store
    job = jobs.record_trigger(
        store,
        endpoint="churn",
        trigger={"kind": "manual"},
        cooldown=dt.timedelta(0),
        policy={},
        actor="t",
    ).job
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert jobs.claim(store, job.id, owner="a", lease=1)
    [interrupted] = jobs.reclaim_lapsed(store, now=later)
    assert interrupted.status == "interrupted" and "lease of a lapsed" in (interrupted.reason or "")
    assert jobs.claim(store, job.id, owner="b", lease=1)
    [failed] = jobs.reclaim_lapsed(store, now=later + dt.timedelta(seconds=5))
    assert failed.status == "failed" and failed.attempts == 2
    assert "interrupted twice" in (failed.reason or "")
    assert len(failed.to_dict()["interruptions"]) == 2
