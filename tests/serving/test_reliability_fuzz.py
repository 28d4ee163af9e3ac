"""A schemathesis pass over the published /openapi.json of a real server, wider than the quick
one in test_server_api.py: every phase (the schema's examples, the coverage phase's boundary and
wrong-type values, then random fuzzing), valid and invalid data both, and response headers
checked too. Path names are pinned to the real endpoint so bodies reach the parsers and the
model, not a 404.

Nothing may be a 5xx or off the published schema (status, content type, body, headers), a body
the schema rules out must be refused, and the server must not fail inside either: a response it cannot send (an illegal header value) is no
5xx to the client, just a dropped connection, so its own log is read for tracebacks as well.

Found by it: an empty field name made the X-Ignored-Fields header end in a space (h11 refused to
send it, the client saw its connection drop), and a V2 tensor whose datatype was not a string
was a 500 (an unhashable value tested for membership in a set); a split body's ``index`` of any
shape was accepted, and numeric column names were accepted but not published.

Not checked: that every body the schema allows is accepted (schemathesis' positive_data_acceptance),
since the schema cannot say that rows must match the model's columns and rules; those are 4xx.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving.reliability import workspace_copy
from tests.serving.server_harness import Server, churn_rows, running

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",  # a body the schema rules out is refused, not scored
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = workspace_copy(tmp_path_factory, "fuzz")
    with running(root) as started:
        yield started


def test_fuzzing_every_operation_finds_no_5xx_and_nothing_off_schema(
    server: Server, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text('[parameters]\n"path.name" = "churn"\n')
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config),
            "run",
            f"{server.url}/openapi.json",
            "--phases",
            "examples,coverage,fuzzing",
            "--mode",
            "all",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            "40",
            "--seed",
            "14",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # its .schemathesis folder goes there
    )
    assert done.returncode == 0, done.stdout[-6000:]
    assert "generated" in done.stdout  # it ran
    assert httpx.get(f"{server.url}/health/ready").status_code == 200
    log = server.stderr
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-4000:]


def test_an_empty_or_spaced_field_name_is_named_in_a_legal_header(server: Server) -> None:
    """What the fuzz pass found first: the answer could not be sent, the connection dropped."""
    row = {**churn_rows(1)[0], " padded ": 2, "": 1}
    with server.client() as http:
        for body in ({"instances": [row]}, {"instances": churn_rows(1), "": 0}):
            response = http.post("/v1/endpoints/churn/predict", json=body)
            assert response.status_code == 200, response.text
            named = response.headers["x-ignored-fields"]
            assert named == named.strip() and '""' in named.split(", ")


def test_a_v2_datatype_that_is_not_a_string_is_a_400(server: Server) -> None:
    tensor = {"name": "tenure_months", "datatype": {}, "shape": [1], "data": [3]}
    response = httpx.post(f"{server.url}/v2/models/churn/infer", json={"inputs": [tensor]})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_body" and "datatype" in response.json()["error"]


def test_the_split_index_is_checked_and_numeric_column_names_are_published(server: Server) -> None:
    """Off-schema bodies the negative phase found accepted: an ``index`` that is no list of
    labels is now refused; numeric column names (pandas' unnamed columns) are accepted on
    purpose, so the published schema now says so."""
    row = churn_rows(1)[0]
    split = {"columns": list(row), "data": [list(row.values())]}
    with server.client() as http:
        for index in ({}, [1, 2], [[0]]):
            refused = http.post(
                "/v1/endpoints/churn/predict", json={"dataframe_split": {**split, "index": index}}
            )
            assert refused.status_code == 400, refused.text
            assert "dataframe_split.index" in refused.json()["error"]["message"]
        kept = http.post(
            "/v1/endpoints/churn/predict", json={"dataframe_split": {**split, "index": ["a"]}}
        )
        assert kept.status_code == 200, kept.text
        spec = http.get("/openapi.json").json()
    columns = spec["components"]["schemas"]["DataframeSplit"]["properties"]["columns"]
    assert {"type": "integer"} in columns["items"]["anyOf"]
