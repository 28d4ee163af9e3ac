"""The HTTP surface of a real `mloop serve` process: every body format, V2 through tritonclient,
and the one error shape for each refusal. One server for the module."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.serving.server_harness import Server, build_workspace, churn_rows, running

ROWS = churn_rows(3)
MAX_ROWS = 20
MAX_BODY = 20_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = build_workspace(tmp_path_factory.mktemp("api") / "ws")
    flags = ("--max-rows", str(MAX_ROWS), "--max-body-bytes", str(MAX_BODY))
    with running(root, *flags) as started:
        yield started


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _bodies() -> dict[str, dict[str, Any]]:
    columns = list(ROWS[0])
    return {
        "dataframe_split": {
            "dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in ROWS]}
        },
        "dataframe_records": {"dataframe_records": ROWS},
        "instances": {"instances": ROWS},
        "inputs": {"inputs": {c: [r[c] for r in ROWS] for c in columns}},
    }


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: exactly error.{code, message, detail}, a sentence, no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert message.endswith(".") and "Traceback" not in response.text
    return body["error"]


@pytest.mark.parametrize("form", list(_bodies()))
def test_each_mlflow_body_gets_the_same_predictions(client: httpx.Client, form: str) -> None:
    response = client.post(
        "/v1/endpoints/churn/predict", json=_bodies()[form], headers={"X-Request-ID": f"req-{form}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["x-request-id"] == body["request_id"] == f"req-{form}"
    assert body["ids"] == [f"req-{form}:{i}" for i in range(3)]
    assert all(isinstance(p, bool) for p in body["predictions"]) and len(body["predictions"]) == 3
    assert all(abs(sum(p.values()) - 1) < 1e-9 for p in body["probabilities"])
    assert (body["model"], body["version"], body["revision"]) == ("churn", 1, 1)
    when = dt.datetime.fromisoformat(body["timestamp"])
    assert when.utcoffset() == dt.timedelta(0)
    reference = client.post("/v1/endpoints/churn/predict", json=_bodies()["instances"]).json()
    assert body["predictions"] == reference["predictions"]


def test_one_row_takes_the_request_id_as_its_id(client: httpx.Client) -> None:
    body = client.post("/v1/endpoints/churn/predict", json={"instances": ROWS[:1]}).json()
    assert body["ids"] == [body["request_id"]] and len(body["request_id"]) >= 10


def test_unknown_fields_are_ignored_and_named_in_a_header(client: httpx.Client) -> None:
    row = dict(ROWS[0], **{"notes ✓": "vip"})
    response = client.post("/v1/endpoints/churn/predict", json={"instances": [row], "params": {}})
    assert response.status_code == 200
    ignored = response.headers["x-ignored-fields"].split(", ")
    assert ignored[0] == "params" and ignored[-1] == "notes %E2%9C%93"
    assert "customer_id" in ignored  # sent, but not a feature of the model


def test_refusals_have_one_error_shape(client: httpx.Client) -> None:
    predict = "/v1/endpoints/churn/predict"
    error = assert_error(
        client.post("/v1/endpoints/nope/predict", json={"instances": ROWS}), 404, "not_found"
    )
    assert "nope" in error["message"]
    assert_error(client.get("/no/such/route"), 404, "not_found")
    assert_error(client.get(predict), 405, "method_not_allowed")
    assert_error(
        client.post(predict, content=b"a,b\n1,2", headers={"Content-Type": "text/csv"}),
        415,
        "unsupported_media_type",
    )
    gzipped = gzip.compress(json.dumps({"instances": ROWS}).encode())
    error = assert_error(
        client.post(
            predict,
            content=gzipped,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        ),
        415,
        "unsupported_media_type",
    )
    assert "uncompressed" in error["message"]
    latin = json.dumps({"instances": ROWS}).encode("latin-1")
    error = assert_error(
        client.post(
            predict,
            content=latin,
            headers={"Content-Type": "application/json; charset=ISO-8859-1"},
        ),
        415,
        "unsupported_media_type",
    )
    assert "UTF-8" in error["message"] and error["detail"]["charset"] == "iso-8859-1"
    declared = {"Content-Type": 'application/json; charset="UTF-8"'}
    assert client.post(predict, content=latin, headers=declared).status_code == 200
    big = {"instances": ROWS * 200}  # over max_body_bytes
    assert_error(client.post(predict, json=big), 413, "payload_too_large")
    many = {"inputs": {"tenure_months": list(range(MAX_ROWS + 1))}}
    assert_error(client.post(predict, json=many), 413, "too_many_rows")
    assert_error(
        client.post(
            predict, content=b'{"instances": [', headers={"Content-Type": "application/json"}
        ),
        400,
        "malformed_json",
    )
    deep = b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_error(
        client.post(predict, content=deep, headers={"Content-Type": "application/json"}),
        400,
        "malformed_json",
    )

    bad = dict(ROWS[0], tenure_months="a year", contract="Weekly")
    error = assert_error(
        client.post(predict, json={"instances": [ROWS[1], bad]}), 422, "invalid_input"
    )
    by_column = {d["column"]: d for d in error["detail"]}
    assert (
        by_column["tenure_months"]["row"] == 2 and by_column["tenure_months"]["value"] == "a year"
    )
    assert {"row", "column", "rule", "value", "message"} <= set(by_column["contract"])


def test_v2_through_tritonclient_json_and_binary(server: Server) -> None:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("churn")
    metadata = client.get_model_metadata("churn")
    assert metadata["name"] == "churn"
    assert [o["name"] for o in metadata["outputs"]] == ["predict", "predict_proba"]
    dtypes = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64, "BOOL": np.bool_}
    reference = httpx.post(
        f"{server.url}/v1/endpoints/churn/predict", json={"instances": ROWS}
    ).json()
    assert metadata["versions"] == [str(reference["version"])]  # model versions, not revisions
    for binary in (True, False):
        inputs = []
        for tensor in metadata["inputs"]:
            kind = tensor["datatype"]
            values = np.array(
                [row[tensor["name"]] for row in ROWS], dtype=dtypes.get(kind, np.object_)
            )
            one = triton.InferInput(tensor["name"], [len(ROWS)], kind)
            one.set_data_from_numpy(values, binary_data=binary)
            inputs.append(one)
        outputs = [
            triton.InferRequestedOutput("predict", binary_data=binary),
            triton.InferRequestedOutput("predict_proba", binary_data=binary),
        ]
        result = client.infer("churn", inputs, outputs=outputs)
        assert result.as_numpy("predict").tolist() == reference["predictions"]
        proba = result.as_numpy("predict_proba")
        assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1.0)
    with pytest.raises(InferenceServerException) as caught:
        client.infer("nope", inputs)
    assert "nope" in str(caught.value) and caught.value.status() == "404"


def test_health_metrics_and_openapi(client: httpx.Client, server: Server) -> None:
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready").json()
    assert ready["endpoints"]["churn"] == {"ready": True, "revision": 1, "reason": None}
    client.post("/v1/endpoints/churn/predict", json={"instances": ROWS})
    text = client.get("/metrics").text
    for name in (
        'mloop_requests_total{endpoint="churn",model="churn",role="primary",status="200",version="1"}',
        "mloop_request_duration_seconds_bucket",
        'mloop_in_flight_requests{endpoint="churn"}',
        'mloop_predictions_total{class="True",endpoint="churn"',
        'mloop_prediction_log_written_total{endpoint="churn"}',
        'mloop_prediction_log_dropped_total{endpoint="churn"} 0.0',
        "mloop_prediction_log_queue_depth",
        "mloop_shadow_shed_total",
        "mloop_validation_warnings_total",
        'mloop_batch_rows_bucket{endpoint="churn",le="4.0",model="churn",version="1"}',
    ):
        assert name in text, name
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/v1/endpoints/{name}/predict"]["post"]
    assert {"200", "400", "404", "413", "415", "422", "429", "503", "504"} <= set(
        predict["responses"]
    )
    assert "oneOf" in predict["requestBody"]["content"]["application/json"]["schema"]
    assert "/v2/models/{name}/infer" in spec["paths"]
    status = Path(server.root, ".mloop", "serving", "status", "churn.json")
    assert status.exists()


def test_a_schemathesis_pass_finds_no_5xx_and_no_response_off_schema(
    server: Server, tmp_path: Path
) -> None:
    """Fuzzes every published operation (path names pinned to the real endpoint): bodies the
    model's rules refuse are fine (422), a 5xx or an answer the schema does not describe is not."""
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\n"path.name" = "churn"\n')
    checks = [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config),
            "run",
            f"{server.url}/openapi.json",
            "--phases",
            "fuzzing",
            "--checks",
            ",".join(checks),
            "--max-examples",
            "12",
            "--seed",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # it keeps a .schemathesis/ folder where it runs
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "Server error" not in done.stdout


def test_unreadable_json_on_v2_infer_is_answered_with_a_v2_example(client: httpx.Client) -> None:
    """The hint is a V2 inputs body, not the /v1 route's dataframe_records."""
    for body in (b"", b'{"inputs": ['):
        answer = client.post(
            "/v2/models/churn/infer", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()
        assert error["code"] == "malformed_json"
        assert '"inputs"' in error["error"] and "dataframe_records" not in error["error"]


def test_a_malformed_request_id_is_refused_not_silently_replaced(client: httpx.Client) -> None:
    """A replaced id answered 200 under a made-up id, so labels sent later under the caller's
    own id never joined its predictions."""
    for bad in ("order 17", "a" * 129, "é"):
        answer = client.post(
            "/v1/endpoints/churn/predict",
            json={"instances": ROWS},
            headers={"X-Request-ID": bad.encode()},
        )
        error = assert_error(answer, 400, "bad_request")
        assert "X-Request-ID" in error["message"]
    v2 = client.post(
        "/v2/models/churn/infer", json={"inputs": []}, headers={"X-Request-ID": "order 17"}
    )
    assert v2.status_code == 400 and "X-Request-ID" in v2.json()["error"]
    good = client.post(
        "/v1/endpoints/churn/predict", json={"instances": ROWS}, headers={"X-Request-ID": "o-17"}
    )
    assert good.status_code == 200 and good.json()["request_id"] == "o-17"
