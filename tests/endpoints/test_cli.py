"""`mloop deploy` and `mloop endpoints …` as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest

from mloop.endpoints.status import EndpointStatus, status_folder, write_status
from mloop.workspace import Workspace
from tests.endpoints.conftest import run_json


def test_a_deploy_story_through_the_cli(cli: Any, models: Workspace) -> None:
    deployed = cli("deploy", "churn-api", "churn@champion", "--reason", "launch")
    assert deployed.exit_code == 0, deployed.stderr
    assert "revision=1" in deployed.stdout
    assert "primary=churn@1 (follows churn@champion) 100%" in deployed.stdout
    canary = run_json(
        cli, "deploy", "churn-api", "churn@champion", "--canary", "churn@2", "--weight", "20",
        "--shadow", "churn@3",
    )  # fmt: skip
    assert canary["number"] == 2 and canary["traffic"] == {"primary": 80, "canary": 20}
    assert canary["primary"] == {
        "ref": "churn@1",
        "model": "churn",
        "version": 1,
        "alias": "champion",
        "follows": "churn@champion",
        "version_id": canary["primary"]["version_id"],
    }
    assert canary["shadow"]["ref"] == "churn@3" and canary["shadow"]["follows"] is None

    listed = run_json(cli, "endpoints", "ls")
    assert [(e["name"], e["live"]["number"]) for e in listed] == [("churn-api", 2)]
    table = cli("endpoints", "ls").stdout
    assert "churn-api" in table and "canary churn@2 20%" in table

    shown = cli("endpoints", "show", "churn-api").stdout
    assert "live revision 2" in shown
    assert "traffic: churn@1 (follows churn@champion) 80% / canary churn@2 20%" in shown
    assert "shadow: churn@3 (mirrored, never returned)" in shown
    assert "staged: none" in shown and "no server running" in shown

    staged = cli("deploy", "churn-api", "churn@3", "--stage")
    assert staged.exit_code == 0 and "state=staged" in staged.stdout
    assert "staged: revision 3 churn@3" in cli("endpoints", "show", "churn-api").stdout
    switched = cli("endpoints", "switch", "churn-api", "--reason", "green is warm")
    assert switched.exit_code == 0 and "revision=4" in switched.stdout
    assert "primary=churn@3 100%" in switched.stdout

    back = run_json(cli, "endpoints", "rollback", "churn-api", "--to", "2")
    assert (back["number"], back["action"], back["source_revision"]) == (5, "rollback", 2)
    assert back["primary"]["alias"] is None and back["canary"]["ref"] == "churn@2"

    history = run_json(cli, "endpoints", "history", "churn-api")
    assert [(r["number"], r["action"], r["current"]) for r in history] == [
        (1, "deploy", None),
        (2, "deploy", None),
        (3, "stage", None),
        (4, "switch", None),
        (5, "rollback", "live"),
    ]
    table = cli("endpoints", "history", "churn-api").stdout
    assert "rollback r2" in table and "green is warm" in table
    assert "never live" in table, "r3 was staged, then switched: it never served itself"
    refused = cli("endpoints", "rollback", "churn-api", "--to", "3")
    assert refused.exit_code == 2 and "was staged and never served traffic" in refused.stderr
    assert "can be rolled back to (they were live) are r1-r2, r4" in refused.stderr

    audit = run_json(cli, "audit", "--model", "churn")
    assert [e["action"] for e in audit if e["subject"].startswith("endpoint")] == [
        "endpoint_deploy",
        "endpoint_deploy",
        "endpoint_stage",
        "endpoint_switch",
        "endpoint_rollback",
    ]
    deleted = cli("endpoints", "delete", "churn-api", "--reason", "retired")
    assert deleted.exit_code == 0 and "endpoint=churn-api" in deleted.stdout
    assert run_json(cli, "endpoints", "ls") == []
    assert "No endpoints yet" in cli("endpoints", "ls").stdout
    gone = cli("endpoints", "show", "churn-api")
    assert gone.exit_code == 2 and "was deleted" in gone.stderr
    again = run_json(cli, "deploy", "churn-api", "churn@2")
    assert again["number"] == 6, "revision numbers continue after a delete"


def test_show_reports_what_the_server_wrote_and_forgets_a_silent_server(
    cli: Any, models: Workspace
) -> None:
    cli("deploy", "api", "churn@1", "--shadow", "churn@2")
    folder = status_folder(models.root)
    now = dt.datetime.now(dt.UTC)
    status = EndpointStatus(
        endpoint="api",
        pid=os.getpid(),
        url="http://127.0.0.1:8123",
        updated_at=now,
        ready=True,
        revision=1,
        shadow_compared=400,
        shadow_agreed=390,
        extra={"shadow_shed": 7},
    )
    write_status(folder, status)
    shown = cli("endpoints", "show", "api").stdout
    assert "server: ready, serving revision 1" in shown and "http://127.0.0.1:8123" in shown
    assert "shadow agreement: 97.5% of 400 compared" in shown
    assert "shadow shed under load: 7 requests" in shown
    server = run_json(cli, "endpoints", "show", "api")["server"]
    assert server["ready"] and server["shadow_agreement"] == pytest.approx(0.975)
    write_status(folder, EndpointStatus("api", 1, "http://x", now, False, "model tampered"))
    assert "NOT READY: model tampered" in cli("endpoints", "show", "api").stdout
    stale = EndpointStatus("api", 1, "http://x", now - dt.timedelta(seconds=11), True)
    write_status(folder, stale)
    assert "no server running" in cli("endpoints", "show", "api").stdout
    assert run_json(cli, "endpoints", "show", "api")["server"] is None
    assert sorted(p.name for p in folder.iterdir()) == ["api.json"], "no temp file left behind"


BAD = [
    (["deploy", "api", "churn@9"], "no version 9"),
    (["deploy", "api", "nope@1"], "No model named 'nope'"),
    (["deploy", "api", "churn@gold"], "no alias 'gold'"),
    (["deploy", "api", "churn"], "names no version"),
    (["deploy", "api", "churn@1", "--canary", "churn@2", "--weight", "0"], "1 to 99"),
    (["deploy", "api", "churn@1", "--canary", "churn@2", "--weight", "100"], "1 to 99"),
    (["deploy", "api", "churn@1", "--weight", "10"], "no --canary"),
    (["deploy", "api", "churn@1", "--canary", "churn@2"], "needs --weight"),
    (["deploy", "api", "churn@1", "--canary", "plan@1", "--weight", "5"], "predicts 'contract'"),
    (["deploy", "api", "churn@1", "--shadow", "churn@champion"], "is the primary model itself"),
    (["deploy", "api", "churn@1", "--canary", "churn@1", "--weight", "5"], "another version"),
    (["deploy", "../etc", "churn@1"], "Endpoint name '../etc' is not allowed"),
    (["deploy", "api@2", "churn@1"], "Endpoint name 'api@2' contains '@'"),
    (["deploy", "api", "churn@1", "--runtime", "onnx"], "needs a checked ONNX export of churn@1"),
    (["deploy", "api", "churn@1", "--runtime", "java"], "python or onnx"),
    (["deploy", "api", "churn@2", "--stage"], None),  # api has a live revision: allowed
    (["endpoints", "switch", "other"], "No endpoint named 'other'; endpoints are: api"),
    (["endpoints", "rollback", "api"], "no live revision before r1"),
    (["endpoints", "rollback", "api", "--to", "7"], "has no revision 7"),
    (["endpoints", "rollback", "api", "--to", "2"], "is staged and has never served traffic"),
    (["endpoints", "history", "nope"], "No endpoint named 'nope'"),
]


def test_bad_input_is_one_sentence_exit_2_and_writes_nothing(cli: Any, models: Workspace) -> None:
    """Every refusal on one workspace (one model set-up, not twenty)."""
    assert cli("deploy", "api", "churn@1").exit_code == 0
    for args, message in BAD:
        before = (run_json(cli, "endpoints", "history", "api"), run_json(cli, "audit"))
        result = cli(*args)
        if message is None:
            assert result.exit_code == 0, result.stderr
            continue
        assert result.exit_code == 2, (args, result.stdout)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
        after = (run_json(cli, "endpoints", "history", "api"), run_json(cli, "audit"))
        assert after == before, f"{args} wrote something"


def test_promote_and_rollback_move_the_endpoints_that_follow_the_alias(
    cli: Any, models: Workspace
) -> None:
    cli("deploy", "api", "churn@champion")
    cli("deploy", "pinned", "churn@1")
    promoted = cli(
        "models", "promote", "churn", "3", "--to", "champion", "--no-gate", "--reason", "fresher"
    )
    assert promoted.exit_code == 0, promoted.stderr
    assert "endpoint api: revision 2 serves churn@3 (champion)" in promoted.stdout
    live = run_json(cli, "endpoints", "show", "api")["live"]
    assert (live["action"], live["primary"]["ref"]) == ("follow", "churn@3")
    assert live["reason"].startswith("churn@champion moved 1 → 3")
    assert run_json(cli, "endpoints", "show", "pinned")["live"]["number"] == 1
    rolled = run_json(cli, "models", "rollback", "churn")
    assert [(r["endpoint"], r["primary"]["ref"]) for r in rolled["endpoints"]] == [
        ("api", "churn@1")
    ]
    assert json.loads(cli("endpoints", "history", "api", "--json").stdout)[-1]["number"] == 3
