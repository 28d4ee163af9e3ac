"""A model version's lineage runs on past the registry: the endpoints that served it and the
predictions it made, by role."""

from __future__ import annotations

from typing import Any

from mloop.endpoints.service import deploy
from mloop.predlog import folder_for
from mloop.workspace import Workspace
from tests.endpoints.conftest import run_json
from tests.monitoring.logdata import churn_records, write_log


def test_lineage_names_the_revisions_and_counts_the_predictions(
    models: Workspace, cli: Any
) -> None:
    deploy(models.store, "churn", "churn@champion", actor="tester")
    deploy(models.store, "churn", "churn@1", canary="churn@2", weight=30, actor="tester")
    write_log(
        folder_for(models.settings),
        "churn",
        churn_records(40, version=1),
        churn_records(12, version=2, role="canary", prefix="c"),
    )
    one = run_json(cli, "models", "lineage", "churn@1")["served"]
    assert one[0]["endpoint"] == "churn"
    assert one[0]["revisions"] == [
        {"revision": 1, "role": "primary"},
        {"revision": 2, "role": "primary"},
    ]
    assert one[0]["predictions"] == {"primary": 40} and one[0]["first"] < one[0]["last"]
    two = run_json(cli, "models", "lineage", "churn@2")["served"]
    assert two[0]["revisions"] == [{"revision": 2, "role": "canary"}]
    assert two[0]["predictions"] == {"canary": 12}
    assert run_json(cli, "models", "lineage", "churn@3")["served"] == []
    shown = cli("models", "lineage", "churn@2")
    assert "served at endpoint churn: r2 canary" in shown.stdout
    assert "12 as canary" in shown.stdout
