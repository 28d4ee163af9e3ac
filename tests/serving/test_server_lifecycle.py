"""A real `mloop serve` over time: revisions swapped in while it runs, a tampered model that takes
down only its own endpoint, overload, canary and shadow in the log, and a clean SIGTERM.

One server for the module; the SIGTERM test stops it, so it runs last.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mloop.endpoints.service import deploy, rollback, switch
from mloop.predlog import folder_for, nested, read_log
from mloop.registry.versions import resolve
from mloop.workspace import Workspace
from tests.serving.server_harness import Server, build_workspace, churn_rows, start_server
from tests.serving.test_server_api import assert_error

ROWS = churn_rows(4)
SETTINGS = """
[serving.endpoints.tiny]
queue = 1
on_invalid = "warn"
log_durability = "always"

[serving.endpoints.slow]
timeout_s = 0.001
"""


def _open(root: Path) -> Workspace:
    return Workspace.open(root, environ={"MLOOP_USER": "tester"})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = build_workspace(tmp_path_factory.mktemp("life") / "ws", models=4)
    with (root / "mloop.toml").open("a") as config:
        config.write(SETTINGS)
    with _open(root) as ws:
        deploy(ws.store, "tiny", "churn@1", actor="tester")
        deploy(ws.store, "slow", "churn@1", actor="tester")
        deploy(
            ws.store,
            "split",
            "churn@1",
            canary="churn@2",
            weight=50,
            shadow="churn@4",
            actor="tester",
        )
        deploy(ws.store, "broken", "churn@3", actor="tester")
        digest = resolve(ws.store, "churn@3").artifact_hash
        blob = ws.settings.artifacts_path / "blobs" / digest[:2] / digest[2:]
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-5])  # tampered on disk: its endpoint must not load it
    started = start_server(root, ready=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # ready except "broken", which never will be
        health = httpx.get(f"{started.url}/health/ready").json()
        detail = health.get("error", {}).get("detail") or {}
        if set(detail) == {"broken"} and "hash check" in str(detail["broken"]["reason"]):
            break
        time.sleep(0.1)
    yield started
    started.stop()


def predict(
    server: Server, endpoint: str, body: object = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/endpoints/{endpoint}/predict",
        json={"instances": ROWS} if body is None else body,
        headers=headers,
        timeout=30,
    )


def test_a_tampered_model_makes_only_its_endpoint_unready(server: Server) -> None:
    error = assert_error(httpx.get(f"{server.url}/health/ready"), 503, "not_ready")
    assert list(error["detail"]) == ["broken"]
    assert "revision 1 cannot load" in error["message"] and "hash check" in error["message"]
    refused = assert_error(predict(server, "broken"), 503, "not_ready")
    assert "hash check" in refused["detail"]["reason"]
    assert predict(server, "churn").status_code == 200
    assert predict(server, "tiny").status_code == 200
    status = json.loads((server.root / ".mloop/serving/status/broken.json").read_text())
    assert status["ready"] is False and "hash check" in status["reason"]


def test_a_new_revision_is_served_within_three_seconds(server: Server) -> None:
    assert predict(server, "churn").json()["version"] == 1
    with _open(server.root) as ws:
        deploy(ws.store, "churn", "churn@2", actor="tester")
    moved = time.monotonic()
    while True:
        body = predict(server, "churn").json()
        if body["version"] == 2:
            break
        assert body["version"] == 1  # the old model answers until the new one takes over
        assert time.monotonic() - moved < 3.0, "the new revision was not served within 3 s"
        time.sleep(0.05)
    assert body["revision"] == 2

    # blue/green: a staged revision is loaded and warmed but gets no traffic until the switch
    with _open(server.root) as ws:
        deploy(ws.store, "churn", "churn@4", stage=True, actor="tester")
    time.sleep(1.5)
    assert {predict(server, "churn").json()["version"] for _ in range(5)} == {2}
    with _open(server.root) as ws:
        switch(ws.store, "churn", actor="tester")
    switched = time.monotonic()
    while predict(server, "churn").json()["version"] != 4:
        assert time.monotonic() - switched < 3.0, "the switch was not served within 3 s"
        time.sleep(0.05)


def test_a_slow_answer_is_a_504_and_always_is_on_disk_before_the_answer(server: Server) -> None:
    late = predict(server, "slow", {"instances": churn_rows(3000, seed=6)})
    assert_error(late, 504, "timeout")
    answered = predict(server, "tiny", headers={"X-Request-ID": "durable-1"})
    assert answered.status_code == 200
    with _open(server.root) as ws:  # log_durability = "always": fsynced before the answer
        log = read_log(folder_for(ws.settings), "tiny", limit=None)
    assert "durable-1" in set(log.column("request_id").to_pylist())


def test_a_full_queue_answers_429_with_retry_after(server: Server) -> None:
    big = {"instances": churn_rows(400, seed=4)}
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(
            pool.map(
                lambda _: httpx.post(
                    f"{server.url}/v1/endpoints/tiny/predict", json=big, timeout=30
                ),
                range(24),
            )
        )
    statuses = {a.status_code for a in answers}
    assert statuses <= {200, 429} and 429 in statuses and 200 in statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert_error(refused, 429, "overloaded")
    assert int(refused.headers["retry-after"]) >= 1
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'endpoint="tiny",model="",role="",status="429",version=""}' in metrics


def test_warn_scores_invalid_rows_and_counts_them(server: Server) -> None:
    bad = dict(ROWS[0], contract="Weekly")
    response = predict(server, "tiny", {"instances": [bad]}, headers={"X-Request-ID": "warned-1"})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'mloop_validation_warnings_total{column="contract",endpoint="tiny"' in metrics
    with _open(server.root) as ws:  # tiny logs with durability "always"
        log = read_log(folder_for(ws.settings), "tiny").to_pylist()
    (logged,) = [row for row in log if row["request_id"] == "warned-1"]
    assert logged["status"] == 200 and "contract allowed" in logged["error"]
    assert_error(predict(server, "churn", {"instances": [bad]}), 422, "invalid_input")


def test_warn_tells_the_client_how_many_rows_broke_rules(server: Server) -> None:
    """A 200 under on_invalid = "warn" looked like any other: only the log knew."""
    bad = dict(ROWS[0], contract="Weekly", tenure_months=-3)
    rows = [bad, ROWS[1], dict(ROWS[2], contract="Weekly")]
    response = predict(server, "tiny", {"instances": rows})
    assert response.status_code == 200 and response.headers["x-rule-violations"] == "2"
    assert set(response.json()) >= {"predictions", "ids"} and "errors" not in response.json()
    assert "x-rule-violations" not in predict(server, "tiny", {"instances": ROWS[:2]}).headers
    missing = [{k: v for k, v in row.items() if k != "contract"} for row in ROWS[:3]]
    assert predict(server, "tiny", {"instances": missing}).headers["x-rule-violations"] == "3"
    metadata = httpx.get(f"{server.url}/v2/models/tiny", timeout=30).json()
    row = dict(ROWS[0], contract="Weekly")
    v2 = {
        "inputs": [
            {"name": t["name"], "shape": [1], "datatype": t["datatype"], "data": [row[t["name"]]]}
            for t in metadata["inputs"]
        ]
    }
    answer = httpx.post(f"{server.url}/v2/models/tiny/infer", json=v2, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-rule-violations"] == "1"


def test_the_log_keeps_a_number_sent_as_text_numeric(server: Server) -> None:
    """``"12"`` is accepted for a number and scored as 12; logged as sent it made its segment's
    column text, and every read across segments then gave the column's numbers as text."""
    texted = dict(ROWS[0], tenure_months="12")
    for request_id, row in (("texted-1", texted), ("plain-1", ROWS[1])):
        response = predict(server, "tiny", {"instances": [row]}, {"X-Request-ID": request_id})
        assert response.status_code == 200, response.text
    refused = dict(texted, contract="Weekly")
    headers = {"X-Request-ID": "refused-1"}
    assert predict(server, "churn", {"instances": [refused]}, headers).status_code == 422
    time.sleep(1.5)  # churn logs with durability "everysec"
    with _open(server.root) as ws:
        tiny = read_log(folder_for(ws.settings), "tiny").to_pylist()
        churn = read_log(folder_for(ws.settings), "churn").to_pylist()
    logged = {row["request_id"]: nested(row)["inputs"] for row in tiny}
    assert logged["texted-1"]["tenure_months"] == 12
    assert logged["plain-1"]["tenure_months"] == ROWS[1]["tenure_months"]
    (kept,) = [row for row in churn if row["request_id"] == "refused-1"]
    assert json.loads(kept["refused_inputs"])["tenure_months"] == "12", "refused: kept as sent"


def test_canary_is_sticky_and_the_shadow_is_logged_never_returned(server: Server) -> None:
    versions = {
        predict(server, "split", headers={"X-Routing-Key": "customer-7"}).json()["version"]
        for _ in range(6)
    }
    assert len(versions) == 1 and versions <= {1, 2}
    seen = {predict(server, "split").json()["version"] for _ in range(30)}
    assert seen == {1, 2}  # random by weight without a key; never the shadow's 4
    time.sleep(1.5)  # the shadow answers off the request path; everysec durability
    with _open(server.root) as ws:
        log = read_log(folder_for(ws.settings), "split").to_pylist()
    roles = {row["role"] for row in log}
    assert roles == {"primary", "canary", "shadow"}
    assert {row["version"] for row in log if row["role"] == "shadow"} == {4}
    status = json.loads((server.root / ".mloop/serving/status/split.json").read_text())
    assert status["shadow_compared"] > 0


def test_no_request_fails_while_the_endpoint_changes_under_load(server: Server) -> None:
    """4 clients for the whole time the endpoint changes 5 times (canary on, weight change,
    stage + switch, rollback): every answer is a 200 from a version that was deployed."""
    stop = time.monotonic() + 60
    body = json.dumps({"instances": ROWS}).encode()

    def client() -> list[tuple[int, int | None]]:
        seen = []
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while time.monotonic() < stop:
                answer = http.post(
                    "/v1/endpoints/churn/predict",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                version = answer.json().get("version") if answer.status_code == 200 else None
                seen.append((answer.status_code, version))
        return seen

    changes = [
        {"model_ref": "churn@4", "canary": "churn@1", "weight": 30},
        {"model_ref": "churn@4", "canary": "churn@1", "weight": 70},
        {"model_ref": "churn@2", "stage": True},
        "switch",
        "rollback",
    ]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client) for _ in range(4)]
        with _open(server.root) as ws:
            for change in changes:
                time.sleep(1.0)
                if change == "switch":
                    switch(ws.store, "churn", actor="tester")
                elif change == "rollback":
                    rollback(ws.store, "churn", actor="tester")
                else:
                    assert isinstance(change, dict)
                    deploy(ws.store, "churn", actor="tester", **change)  # type: ignore[arg-type]
            time.sleep(1.5)
        stop = time.monotonic()
        seen = [answer for future in futures for answer in future.result()]
    assert len(seen) > 20
    assert {status for status, _ in seen} == {200}, sorted(set(seen))
    assert {version for _, version in seen} <= {1, 2, 4}


def _in_flight(server: Server) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith('mloop_in_flight_requests{endpoint="churn"}'):
            return float(line.split()[-1])
    return 0.0


def test_sigterm_answers_in_flight_requests_and_exits_0(server: Server) -> None:
    body = json.dumps({"instances": churn_rows(3000, seed=5)}).encode()
    url = f"{server.url}/v1/endpoints/churn/predict"
    headers = {"Content-Type": "application/json"}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(httpx.post, url, content=body, headers=headers, timeout=60)
            for _ in range(4)
        ]
        # Stop only once all four are in flight: one still connecting when SIGTERM lands is
        # refused (rightly), which is not what this test is about.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _in_flight(server) >= 4:
                break
            time.sleep(0.005)
        code = server.stop()
        answers = [f.result() for f in futures]
    assert code == 0, server.stderr
    assert [a.status_code for a in answers] == [200] * 4
    assert "Traceback" not in server.stderr
    with _open(server.root) as ws:
        log = read_log(folder_for(ws.settings), "churn")
    ids = set(log.column("request_id").to_pylist())
    assert {a.json()["request_id"] for a in answers} <= ids  # flushed before exit
    assert not (server.root / ".mloop/serving/status/churn.json").exists()
