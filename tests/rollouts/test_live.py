"""Rollouts on a real `mloop serve` on 127.0.0.1, driven by real HTTP traffic.

One server for the module serves four endpoints, each following its own alias of ``churn``
(so promoting one moves no other): a healthy candidate is promoted once min_sample is reached,
a candidate that raises is answered for by the champion and rolled back, one whose predictions
drift from the champion's is rolled back, and one that gets too little traffic is rejected when
its watch ends. The log is written with ``always`` durability, so every answered request is on
disk when its answer arrives and a check right after the traffic sees all of it. Requests carry
``X-Routing-Key``, so which side answers each is fixed and the figures are the same every run;
each row is sent to both sides, so the sides' predictions differ only by model.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
import pytest

from mloop.endpoints.service import deploy, history
from mloop.predlog import folder_for, read_log
from mloop.registry import aliases
from mloop.registry.promotion import list_verdicts, promote
from mloop.registry.versions import resolve
from mloop.rollouts import Rollout, RolloutConfig, check_rollout, start_rollout
from mloop.serving.routing import goes_to_canary
from mloop.workspace import Workspace
from tests.conftest import mloop_here
from tests.rollouts import models
from tests.serving.server_harness import Server, running

ENDPOINTS = ("healthy", "flaky", "slow", "drifty", "quiet", "labelled", "estimated", "shadowed")
SLOW_TIMEOUT_S = 0.5
ROWS = models.rows(400)
GUARDRAILS = (
    "error_rate <= 0.01",
    "rejection_rate <= 0.05",
    "latency_p99_ms <= 5000",
    "prediction_drift <= 0.5",
)
CONFIG = RolloutConfig(weight=50, min_sample=20, watch_seconds=120.0, guardrails=GUARDRAILS)


@dataclass
class Live:
    root: Path
    server: Server
    versions: dict[str, int]  # healthy, lazy, flaky, slow -> version number of churn


def _open(root: Path) -> Workspace:
    return Workspace.open(root, environ={"MLOOP_USER": "tester"})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("rollouts-live") / "ws"
    ws = models.workspace_at(root)
    with (root / "mloop.toml").open("a") as config:
        config.write('\n[serving]\nlog_durability = "always"\n')
        config.write(f"\n[serving.endpoints.slow]\ntimeout_s = {SLOW_TIMEOUT_S}\n")
    try:
        models.healthy(ws, c=1.0)  # churn@1, the champion everywhere
        versions = {
            "healthy": models.healthy(ws, seed=1).version,  # a retrain on fresh rows
            "lazy": models.lazy(ws).version,
            "flaky": models.flaky(ws).version,
            "slow": models.slow(ws).version,
        }
        for endpoint in ENDPOINTS:
            alias = f"prod-{endpoint}"
            promote(
                ws.store,
                ws.artifacts,
                name="churn",
                version=1,
                alias=alias,
                gate=None,
                actor="tester",
            )
            deploy(ws.store, endpoint, f"churn@{alias}", actor="tester")
    finally:
        ws.close()
    with running(root) as server:
        yield Live(root, server, versions)


def _keys(i: int, weight: int = CONFIG.weight) -> tuple[str, str]:
    """Two routing keys for row ``i``: one the canary answers, one the primary answers."""
    found: dict[bool, str] = {}
    j = 0
    while len(found) < 2:
        key = f"customer-{i}-{j}"
        found.setdefault(goes_to_canary(weight, key, random.Random()), key)
        j += 1
    return found[True], found[False]


def _send(live: Live, endpoint: str, n: int, *, first: int = 0) -> list[dict[str, Any]]:
    """Rows ``first`` to ``first + n``, each sent twice: once with a routing key the canary
    answers and once with one the primary answers, so both sides score the same rows (their
    predictions differ only by model). Every answer must be a 200."""
    answers = []
    with httpx.Client(base_url=live.server.url, timeout=30) as http:
        for i in range(first, first + n):
            for key in _keys(i):
                answer = http.post(
                    f"/v1/endpoints/{endpoint}/predict",
                    json={"instances": [ROWS[i % len(ROWS)]]},
                    headers={"X-Routing-Key": key},
                )
                assert answer.status_code == 200, answer.text
                answers.append(answer.json())
    return answers


def _wait_for_revision(live: Live, endpoint: str, number: int) -> None:
    """Until the server answers ``endpoint`` with revision ``number`` (it polls every 0.5 s)."""
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=live.server.url, timeout=30) as http:
        while time.monotonic() < deadline:
            answer = http.post(f"/v1/endpoints/{endpoint}/predict", json={"instances": [ROWS[0]]})
            if answer.status_code == 200 and answer.json()["revision"] == number:
                return
            time.sleep(0.1)
    raise AssertionError(f"{endpoint} never served revision {number}")


def _start(live: Live, endpoint: str, version: int, config: RolloutConfig = CONFIG) -> Rollout:
    with _open(live.root) as ws:
        rollout = start_rollout(
            ws, endpoint=endpoint, candidate=f"churn@{version}", config=config, actor="agent"
        )
    assert rollout.started_revision is not None
    _wait_for_revision(live, endpoint, rollout.started_revision)
    return rollout


def _check(live: Live, rollout: Rollout, now: dt.datetime | None = None) -> Rollout:
    with _open(live.root) as ws:
        return check_rollout(ws, rollout.id, now=now)


def test_a_healthy_candidate_is_promoted_once_min_sample_is_reached(live: Live) -> None:
    version = live.versions["healthy"]
    rollout = _start(live, "healthy", version)
    answers = _send(live, "healthy", 6)
    assert {a["version"] for a in answers} == {1, version}  # both sides answer
    early = _check(live, rollout)
    assert early.status == "watching", early.reason
    assert early.reason is not None and early.reason.endswith("of 20 requests so far")
    _send(live, "healthy", 24, first=6)
    decided = _check(live, rollout)
    assert decided.status == "promoted", (decided.reason, decided.figures)
    assert decided.requests >= 20
    assert all(c["result"] == "pass" for c in decided.figures["checks"])
    assert decided.figures["candidate"]["error_rate"] == 0.0
    with _open(live.root) as ws:
        # the alias the endpoint follows moved to the candidate, citing the verdict
        assert resolve(ws.store, "churn@prod-healthy").version == version
        move = aliases.history(ws.store, "churn", alias="prod-healthy")[-1]
        assert (move.from_version, move.to_version, move.action) == (1, version, "promote")
        assert move.reason is not None and rollout.id in move.reason
        assert move.verdict_id == decided.verdict_id
        verdicts = list_verdicts(ws.store, resolve(ws.store, f"churn@{version}"))
        assert [(v["gate"], v["passed"]) for v in verdicts] == [("guardrails", True)]
        revisions = history(ws.store, "healthy")
    assert [r.action for r in revisions] == ["deploy", "canary", "promote"]
    assert revisions[-1].describe() == f"churn@{version} (prod-healthy)"
    assert revisions[-1].traffic == {"primary": 100}
    assert decided.decided_revision == revisions[-1].number
    # the server follows: every answer now comes from the candidate, at the new revision
    _wait_for_revision(live, "healthy", revisions[-1].number)
    assert {a["version"] for a in _send(live, "healthy", 5, first=100)} == {version}
    # and people see it in `mloop endpoints history` and `mloop rollouts show`
    shown = _mloop(live, "endpoints", "history", "healthy", "--json")
    assert [r["action"] for r in shown] == ["deploy", "canary", "promote"]
    assert _mloop(live, "rollouts", "show", rollout.id, "--json")["status"] == "promoted"


def test_a_canary_too_slow_to_answer_is_answered_for_by_the_champion(live: Live) -> None:
    """Past ``timeout_s`` a canary gives way as one that raised: the client gets the champion's
    answer, and the canary's record says 504, which its error rate counts."""
    version = live.versions["slow"]
    rollout = _start(live, "slow", version)
    slow_rows = [i for i, row in enumerate(ROWS) if row["monthly_charges"] > 60][:3]
    by_request = {}
    with httpx.Client(base_url=live.server.url, timeout=30) as http:
        for i in slow_rows:
            canary_key = _keys(i)[0]
            started = time.monotonic()
            answer = http.post(
                "/v1/endpoints/slow/predict",
                json={"instances": [ROWS[i]]},
                headers={"X-Routing-Key": canary_key},
            )
            assert answer.status_code == 200, answer.text
            assert time.monotonic() - started < 2.5  # not the canary's 3 s
            body = answer.json()
            assert body["version"] == 1 and body["predictions"][0] is not None
            by_request[body["request_id"]] = body
    with _open(live.root) as ws:
        log = read_log(folder_for(ws.settings), "slow", since=rollout.started_at, role="canary")
    timed_out = log.filter(pc.equal(log.column("status"), 504)).to_pylist()
    assert {r["request_id"] for r in timed_out} >= set(by_request)
    assert all(r["version"] == version and "did not answer" in r["error"] for r in timed_out)
    decided = _check(live, rollout)
    assert decided.figures["candidate"]["error_rate"] > 0.01


def test_a_raising_canary_is_answered_by_the_champion_and_rolled_back(live: Live) -> None:
    version = live.versions["flaky"]
    rollout = _start(live, "flaky", version)
    answers = _send(live, "flaky", 20)
    by_request = {a["request_id"]: a for a in answers}
    with _open(live.root) as ws:
        log = read_log(folder_for(ws.settings), "flaky", since=rollout.started_at, role="canary")
    failed = log.filter(pc.equal(log.column("status"), 500)).to_pylist()
    assert failed, "the flaky canary never raised"
    for record in failed:
        assert record["version"] == version
        assert "RuntimeError: flaky model" in record["error"]
        answer = by_request.get(record["request_id"])
        if answer is not None:  # (the revision probes of _wait_for_revision are not in answers)
            assert (answer["version"], answer["predictions"][0] is not None) == (1, True)
    decided = _check(live, rollout)
    assert decided.status == "rolled_back"
    assert decided.reason is not None and "error_rate <= 0.01 failed" in decided.reason
    assert decided.figures["candidate"]["error_rate"] > 0.01
    assert decided.figures["champion"]["error_rate"] == 0.0
    with _open(live.root) as ws:
        revisions = history(ws.store, "flaky")
        assert resolve(ws.store, "churn@prod-flaky").version == 1
        verdicts = list_verdicts(ws.store, resolve(ws.store, f"churn@{version}"))
    assert [r.action for r in revisions] == ["deploy", "canary", "revert"]
    assert revisions[-1].describe() == "churn@1 (prod-flaky)"
    assert [(v["gate"], v["passed"]) for v in verdicts] == [("guardrails", False)]
    assert verdicts[0]["candidate"]["error_rate"] == decided.figures["candidate"]["error_rate"]
    # all traffic is back on the champion at once
    _wait_for_revision(live, "flaky", revisions[-1].number)
    answers = _send(live, "flaky", 10, first=200)
    assert {(a["version"], a["revision"]) for a in answers} == {(1, revisions[-1].number)}


def test_a_candidate_whose_predictions_drift_from_the_champions_is_rolled_back(
    live: Live,
) -> None:
    rollout = _start(live, "drifty", live.versions["lazy"])
    _send(live, "drifty", 25)
    decided = _check(live, rollout)
    assert decided.status == "rolled_back", decided.figures
    assert decided.reason is not None and "prediction_drift <= 0.5 failed" in decided.reason
    with _open(live.root) as ws:
        assert [r.action for r in history(ws.store, "drifty")] == ["deploy", "canary", "revert"]


def test_a_shadow_candidate_sees_every_request_and_is_promoted(live: Live) -> None:
    config = RolloutConfig(strategy="shadow", min_sample=20, guardrails=GUARDRAILS)
    rollout = _start(live, "shadowed", live.versions["healthy"], config)
    answers = _send(live, "shadowed", 12)
    assert {a["version"] for a in answers} == {1}  # a shadow's answers are never returned
    decided = _check(live, rollout)
    deadline = time.monotonic() + 10
    while decided.status == "watching" and time.monotonic() < deadline:  # shadows log later
        time.sleep(0.2)
        decided = _check(live, rollout)
    assert decided.status == "promoted", decided.figures
    assert decided.figures["candidate"]["prediction_drift"] == 0.0
    with _open(live.root) as ws:
        actions = [r.action for r in history(ws.store, "shadowed")]
    assert actions == ["deploy", "shadow", "promote"]


def test_too_little_traffic_by_the_end_of_the_watch_rejects_the_candidate(live: Live) -> None:
    config = RolloutConfig(weight=50, min_sample=20, watch_seconds=600.0, guardrails=GUARDRAILS)
    rollout = _start(live, "quiet", live.versions["healthy"], config)
    _send(live, "quiet", 4)
    decided = _check(live, rollout, now=rollout.due_at)
    assert decided.status == "rolled_back"
    seen = decided.requests
    assert 0 < seen < 20
    assert decided.reason is not None
    assert f"{seen} of 20 requests in 10m: too few for a verdict" in decided.reason


REALISED = RolloutConfig(
    weight=50,
    min_sample=20,
    watch_seconds=120.0,
    guardrails=("error_rate <= 0.01", "realised.accuracy >= 0.8"),
)


def test_a_realised_guardrail_is_judged_on_the_labels_that_came_back(live: Live) -> None:
    rollout = _start(live, "labelled", live.versions["healthy"], REALISED)
    answers = _send(live, "labelled", 32)
    truth = [
        {"id": a["ids"][0], "label": int(row["monthly_charges"] - row["tenure_months"] > 20)}
        for a, row in zip(answers, (ROWS[i // 2] for i in range(len(answers))), strict=True)
    ]
    sent = httpx.post(
        f"{live.server.url}/v1/endpoints/labelled/feedback", json={"labels": truth}, timeout=30
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["matched"] == len(truth)
    decided = _check(live, rollout)
    assert decided.status == "promoted", decided.figures
    candidate = decided.figures["candidate"]
    assert candidate["labelled"] >= 30
    right = [t["label"] == a["predictions"][0] for t, a in zip(truth, answers, strict=True)]
    canary = [r for r, a in zip(right, answers, strict=True) if a["version"] != 1]
    assert candidate["realised.accuracy"] == pytest.approx(sum(canary) / len(canary))
    assert not any("CBPE" in note for note in decided.figures["notes"])


def test_without_labels_the_cbpe_estimate_stands_in_for_a_realised_guardrail(
    live: Live,
) -> None:
    rollout = _start(live, "estimated", live.versions["healthy"], REALISED)
    _send(live, "estimated", 24)
    decided = _check(live, rollout)
    assert decided.figures["candidate"]["labelled"] == 0
    assert any(
        "0 of 30 labels needed came back, so the CBPE estimate" in note
        for note in decided.figures["notes"]
    )
    assert decided.status == "promoted", decided.figures


def _mloop(live: Live, *args: str) -> Any:
    """``mloop ARGS`` through the real ``main`` in this process, in the workspace."""
    done = mloop_here(*args, cwd=live.root)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
