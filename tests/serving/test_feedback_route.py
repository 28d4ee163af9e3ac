"""``POST /v1/endpoints/{name}/feedback`` on a real `mloop serve` process: labels for the ids the
predict answers gave, replaced when sent again, unmatched ones counted, bad bodies refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mloop.monitoring.feedback import read_labelled
from mloop.predlog import folder_for
from mloop.workspace import Workspace
from tests.serving.server_harness import Server, build_workspace, churn_rows, running
from tests.serving.test_server_api import assert_error


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = build_workspace(tmp_path_factory.mktemp("feedback") / "ws")
    with running(root) as started:
        yield started


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _predict(client: httpx.Client, rows: int, **headers: str) -> dict[str, Any]:
    answer = client.post(
        "/v1/endpoints/churn/predict", json={"instances": churn_rows(rows)}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _labels(server: Server) -> dict[str, Any]:
    with Workspace.open(server.root) as ws:
        root = folder_for(ws.settings)
    table = read_labelled(root, "churn", columns="prediction_id, label")
    return {r["prediction_id"]: r["label"] for r in table.to_pylist()}


def test_labels_for_the_ids_a_predict_answer_gave(server: Server, client: httpx.Client) -> None:
    many = _predict(client, 3)
    one = _predict(client, 1)
    assert one["ids"] == [one["request_id"]]
    body = {
        "labels": [
            {"id": many["ids"][0], "label": True},
            {"id": many["ids"][1], "label": "false"},
            {"id": one["request_id"], "label": 1},
            {"id": "no-such-prediction", "label": True},
        ]
    }
    answer = client.post("/v1/endpoints/churn/feedback", json=body)
    assert answer.status_code == 200, answer.text
    counts = answer.json()
    assert (counts["received"], counts["matched"], counts["unmatched"]) == (4, 3, 1)
    assert counts["unmatched_ids"] == ["no-such-prediction"] and counts["replaced"] == 0
    assert counts["new_classes"] == []  # true/false, "false" and 1 are the model's classes
    labels = _labels(server)
    assert labels[many["ids"][0]] is True and labels[many["ids"][1]] is False
    assert labels[one["request_id"]] is True and labels[many["ids"][2]] is None

    again = client.post(
        "/v1/endpoints/churn/feedback", json={"labels": [{"id": many["ids"][0], "label": False}]}
    )
    assert again.status_code == 200 and again.json()["replaced"] == 1
    assert _labels(server)[many["ids"][0]] is False


def test_a_label_by_routing_key(server: Server, client: httpx.Client) -> None:
    first = _predict(client, 1, **{"X-Routing-Key": "customer-42"})
    second = _predict(client, 2, **{"X-Routing-Key": "customer-42"})
    answer = client.post(
        "/v1/endpoints/churn/feedback", json={"labels": [{"key": "customer-42", "label": True}]}
    )
    assert answer.status_code == 200 and answer.json()["matched"] == 1
    labels = _labels(server)
    assert all(labels[i] is True for i in [*first["ids"], *second["ids"]])


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ([1, 2], 400, "invalid_body", "labels list"),
        ({"labels": []}, 400, "invalid_body", "empty"),
        ({"labels": [{"id": "a"}], "extra": 1}, 400, "invalid_body", "unknown fields"),
        ({"labels": [{"id": "a", "key": "b", "label": 1}]}, 400, "invalid_body", "exactly one"),
        ({"labels": [{"id": "a", "label": [1]}]}, 400, "invalid_body", "labels[0] label"),
        ({"labels": [{"id": "a", "lable": 1}]}, 400, "invalid_body", "'lable'"),
        ({"labels": [{"id": "x", "label": "maybe"}]}, 422, "invalid_input", "'maybe'"),
    ],
)
def test_bad_bodies_are_refused_with_the_one_error_shape(
    client: httpx.Client, body: Any, status: int, code: str, words: str
) -> None:
    answer = client.post("/v1/endpoints/churn/feedback", json=body)
    error = assert_error(answer, status, code)
    assert words in error["message"]


def test_unknown_endpoint_malformed_json_and_wrong_type(client: httpx.Client) -> None:
    assert_error(
        client.post("/v1/endpoints/nope/feedback", json={"labels": [{"id": "a", "label": 1}]}),
        404,
        "not_found",
    )
    assert_error(
        client.post(
            "/v1/endpoints/churn/feedback",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        ),
        400,
        "malformed_json",
    )
    assert_error(
        client.post(
            "/v1/endpoints/churn/feedback",
            content=b"id,label",
            headers={"Content-Type": "text/csv"},
        ),
        415,
        "unsupported_media_type",
    )


def test_the_route_is_published_in_openapi(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    route = document["paths"]["/v1/endpoints/{name}/feedback"]["post"]
    assert "labels" in str(route["requestBody"]) and "200" in route["responses"]


def test_unreadable_json_is_answered_with_a_feedback_example(client: httpx.Client) -> None:
    """The hint is a labels body, not the predict route's dataframe_records."""
    for body in (b"", b'{"labels": ['):
        error = assert_error(
            client.post(
                "/v1/endpoints/churn/feedback",
                content=body,
                headers={"Content-Type": "application/json"},
            ),
            400,
            "malformed_json",
        )
        assert '{"labels": [' in error["message"]
        assert "dataframe_records" not in error["message"]


def _reused_count(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('mloop_request_ids_reused_total{endpoint="churn"}'):
            return float(line.split()[-1])
    return 0.0


def test_a_retried_request_id_is_counted_and_its_label_joins_only_the_answer_sent_last(
    server: Server, client: httpx.Client
) -> None:
    before = _reused_count(client)
    first = _predict(client, 1, **{"X-Request-ID": "retry-me-1"})
    retry = _predict(client, 1, **{"X-Request-ID": "retry-me-1"})
    assert first["ids"] == retry["ids"] == ["retry-me-1"]
    assert _reused_count(client) == before + 1
    answer = client.post(
        "/v1/endpoints/churn/feedback", json={"labels": [{"id": "retry-me-1", "label": True}]}
    )
    assert answer.status_code == 200 and answer.json()["matched"] == 1
    with Workspace.open(server.root) as ws:
        root = folder_for(ws.settings)
    rows = read_labelled(root, "churn", columns="prediction_id, timestamp, label").to_pylist()
    mine = sorted((r["timestamp"], r["label"]) for r in rows if r["prediction_id"] == "retry-me-1")
    assert [label for _, label in mine] == [None, True]
