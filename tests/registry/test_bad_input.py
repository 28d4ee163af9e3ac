from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mloop.workspace import Workspace
from tests.registry.conftest import DECENT


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("models", "show", "ghost"), "No model named 'ghost'; models are: churn"),
        (("models", "show", "churn@9"), "has no version 9; versions are 1..1"),
        (("models", "show", "churn@staging"), "has no alias 'staging'"),
        (("models", "promote", "churn", "7", "--to", "champion"), "has no version 7"),
        (("models", "promote", "churn", "1", "--to", "latest"), "Alias 'latest' is not allowed"),
        (
            ("models", "promote", "churn", "1", "--to", "champion", "--gate", "nope"),
            "No gate named 'nope'",
        ),
        (("models", "rollback", "churn"), "churn@champion is not set"),
        (("models", "register", "zzzz", "--name", "x"), "zzzz"),
        (("models", "lineage", "churn@x"), "has no alias 'x'"),
        (("models", "approve", "churn", "1", "--note", " "), "needs --note"),
        (
            ("models", "history", "churn", "--alias", "staging"),
            "churn has no alias 'staging' and never had one; no alias of it has moved yet",
        ),
        (("models", "history", "churn", "--alias", "9x"), "Alias '9x' is not allowed"),
        (("models", "approve", "churn", "1", "--note", "ok", "--by", " "), "needs a name"),
        (("models", "approve", "churn", "1", "--note", "ok", "--by", "b" * 300), "at most 255"),
    ],
)
def test_bad_registry_input_is_exit_2_with_one_sentence(
    cli: Any, train_version: Any, args: tuple[str, ...], message: str
) -> None:
    train_version(*DECENT)
    result = cli(*args)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_without_a_model_cannot_be_registered(cli: Any, workspace: Workspace) -> None:
    import mloop

    with mloop.start_run(experiment="scratch", workspace=workspace) as run:
        run.log_metric("loss", 0.5)
    result = cli("models", "register", run.id, "--name", "m")
    assert result.exit_code == 2
    assert "has no model artifact" in result.stderr


def test_a_gate_on_a_metric_never_logged_is_exit_2(
    cli: Any, train_version: Any, workspace: Workspace
) -> None:
    train_version(*DECENT)
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text() + '\n[gates.typo]\nthresholds = ["rocauc >= 0.5"]\n')
    result = cli("models", "promote", "churn", "1", "--to", "champion", "--gate", "typo")
    assert result.exit_code == 2
    assert "'rocauc', which churn@1 never logged; it has: accuracy" in result.stderr
    assert json.loads(cli("models", "show", "churn@1", "--json").stdout)["verdicts"] == []


def _blob_path(workspace: Workspace, digest: str) -> Path:
    return workspace.settings.artifacts_path / "blobs" / digest[:2] / digest[2:]


def test_a_tampered_model_blob_is_refused(
    cli: Any, train_version: Any, workspace: Workspace
) -> None:
    train_version(*DECENT)
    digest = json.loads(cli("models", "show", "churn@1", "--json").stdout)["version"][
        "artifact_hash"
    ]
    blob = _blob_path(workspace, digest)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-5])
    result = cli("models", "promote", "churn", "1", "--to", "champion")
    assert result.exit_code == 2
    assert "The artifact of churn@1 fails its hash check" in result.stderr
    assert (
        "champion"
        not in json.loads(cli("models", "show", "churn@1", "--json").stdout)["version"]["aliases"]
    )


def test_registering_a_run_whose_model_blob_was_tampered_is_one_sentence(
    cli: Any, churn_data: Path, workspace: Workspace
) -> None:
    trained = cli("train", "--data", "churn", "--target", "churned", "--json")
    assert trained.exit_code == 0, trained.stderr
    run = json.loads(trained.stdout)
    blob = _blob_path(workspace, run["artifact"].removeprefix("blake3:"))
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"x")
    result = cli("models", "register", run["run"], "--name", "churn")
    assert result.exit_code == 2
    assert f"The model blob of run {run['run']} fails its hash check (hash mismatch" in (
        result.stderr
    )


class Echo:
    def predict(self, frame: Any) -> Any:
        return frame


def test_a_failed_run_cannot_be_registered(cli: Any, workspace: Workspace) -> None:
    import mloop

    with (
        pytest.raises(RuntimeError),
        mloop.start_run(experiment="scratch", workspace=workspace) as run,
    ):
        with pytest.warns(UserWarning, match="stored as a pickle"):
            run.log_model(Echo())
        raise RuntimeError("training diverged")
    result = cli("models", "register", run.id, "--name", "m")
    assert result.exit_code == 2
    assert "ended FAILED" in result.stderr


def test_skipping_the_configured_gate_needs_a_reason_and_is_recorded(
    cli: Any, train_version: Any
) -> None:
    train_version(*DECENT)
    refused = cli("models", "promote", "churn", "1", "--to", "champion", "--no-gate")
    assert refused.exit_code == 2 and "needs --reason" in refused.stderr
    assert json.loads(cli("audit", "--json").stdout)[-1]["action"] == "register"
    moved = cli(
        "models", "promote", "churn", "1", "--to", "champion", "--no-gate", "--reason", "hotfix"
    )
    assert moved.exit_code == 0 and "UNGATED" in moved.stdout
    last = json.loads(cli("audit", "--json").stdout)[-1]
    assert (last["action"], last["reason"]) == ("promote_ungated", "hotfix")


def test_rollback_never_moves_to_a_tampered_model(
    cli: Any, train_version: Any, workspace: Workspace
) -> None:
    train_version(*DECENT)
    train_version(*DECENT, "--param", "max_iter=500")
    for version in ("1", "2"):
        promote = ("models", "promote", "churn", version, "--to", "champion")
        assert cli(*promote, "--no-gate", "--reason", "setup").exit_code == 0
    digest = json.loads(cli("models", "show", "churn@1", "--json").stdout)["version"][
        "artifact_hash"
    ]
    blob = _blob_path(workspace, digest)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"x")
    result = cli("models", "rollback", "churn", "--reason", "bad scores")
    assert result.exit_code == 2 and "The artifact of churn@1 fails its hash check" in result.stderr
    shown = json.loads(cli("models", "show", "churn@champion", "--json").stdout)
    assert shown["version"]["version"] == 2


def test_a_tampered_holder_fails_no_regression_and_force_replaces_it(
    cli: Any, train_version: Any, workspace: Workspace
) -> None:
    train_version(*DECENT)
    train_version(*DECENT, "--param", "max_iter=500")
    assert cli("models", "promote", "churn", "1", "--to", "champion").exit_code == 0
    digest = json.loads(cli("models", "show", "churn@1", "--json").stdout)["version"][
        "artifact_hash"
    ]
    blob = _blob_path(workspace, digest)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"x")
    promote = ("models", "promote", "churn", "2", "--to", "champion")
    result = cli(*promote, "--json")
    assert result.exit_code == 1, result.stderr
    [check] = [c for c in json.loads(result.stdout)["checks"] if c["check"] == "no_regression"]
    assert not check["passed"]
    assert "churn@1, the current holder, fails its hash check" in check["detail"]
    assert "--force" in check["detail"]
    forced = cli(*promote, "--force", "--reason", "the champion's blob is corrupt")
    assert forced.exit_code == 0, forced.stderr
    shown = json.loads(cli("models", "show", "churn@champion", "--json").stdout)
    assert shown["version"]["version"] == 2


def test_audit_filters_and_limits_say_what_is_wrong(cli: Any, train_version: Any) -> None:
    train_version(*DECENT)
    train_version(*DECENT, "--param", "max_iter=500")
    unknown = cli("audit", "--model", "nosuch")
    assert unknown.exit_code == 2 and "models are: churn" in unknown.stderr
    assert cli("audit", "--limit", "0").exit_code == 2
    [newest] = json.loads(cli("audit", "--limit", "1", "--json").stdout)
    assert newest["subject"] == "churn@2", "--limit keeps the newest entries"


def test_an_approval_needs_a_name(cli: Any, train_version: Any) -> None:
    train_version(*DECENT)
    result = cli("models", "approve", "churn", "1", "--note", "ok", "--by", "  ")
    assert result.exit_code == 2 and "needs a name" in result.stderr


def test_a_name_with_a_version_and_a_second_registration_are_one_sentence(
    cli: Any, train_version: Any
) -> None:
    run = train_version(*DECENT)["run"]
    approve = cli("models", "approve", "churn@1", "1", "--note", "ok")
    assert approve.exit_code == 2 and "Give the version once: churn 1 or churn@1" in approve.stderr
    again = cli("models", "register", run, "--name", "churn")
    assert again.exit_code == 2 and "already churn@1" in again.stderr
    assert cli("models", "register", run, "--name", "churn-copy").exit_code == 0


def test_an_unknown_model_among_many_names_twenty_and_counts_the_rest(
    cli: Any, workspace: Workspace
) -> None:
    import datetime as dt

    from mloop.ids import new_id
    from mloop.store import tables as t

    now = dt.datetime.now(dt.UTC)
    with workspace.store.transaction() as conn:
        conn.execute(
            t.models.insert(),
            [{"id": new_id(), "name": f"m{i:02d}", "created_at": now} for i in range(25)],
        )
    result = cli("models", "show", "ghost")
    assert result.exit_code == 2
    assert "models are: m00, m01," in result.stderr and "m19 and 5 more" in result.stderr
    assert "m20" not in result.stderr


def test_promote_and_approve_take_name_at_version_like_show(cli: Any, train_version: Any) -> None:
    train_version(*DECENT)
    approved = cli("models", "approve", "churn@1", "--note", "looked at it")
    assert approved.exit_code == 0, approved.stderr
    promoted = cli("models", "promote", "churn@1", "--to", "champion")
    assert promoted.exit_code == 0, promoted.stderr
    assert "churn@champion: unset → churn@1" in promoted.stdout
    for args, message in [
        (("churn",), "Which version of 'churn'?"),
        (("churn@champion",), "takes a version number, not 'churn@champion'"),
        (("churn@1", "1"), "Give the version once"),
    ]:
        result = cli("models", "promote", *args, "--to", "staging")
        assert result.exit_code == 2 and message in result.stderr
