"""`--runtime onnx` serves only a checked export recorded with the model version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mloop.endpoints import service
from mloop.registry.exports import get_export
from mloop.registry.promotion import promote
from mloop.registry.versions import resolve
from mloop.workspace import Workspace
from tests.endpoints.conftest import run_json


def test_a_checked_export_is_recorded_once_and_makes_the_onnx_runtime_deployable(
    cli: Any, models: Workspace, tmp_path: Path
) -> None:
    refused = cli("deploy", "api", "churn@champion", "--runtime", "onnx")
    assert refused.exit_code == 2
    assert "needs a checked ONNX export of churn@1" in refused.stderr
    assert "mloop models export churn@1 --onnx FILE" in refused.stderr

    out = tmp_path / "churn.onnx"
    exported = cli("models", "export", "churn@1", "--onnx", out)
    assert exported.exit_code == 0, exported.stderr
    assert "export=recorded with the model version" in exported.stdout
    version = resolve(models.store, "churn@1")
    record = get_export(models.store, version.id, "onnx")
    assert record is not None and record.agreement["max_diff"] <= 1e-4
    assert models.artifacts.get_bytes(record.artifact_hash) == out.read_bytes()
    again = cli("models", "export", "churn@1", "--onnx", tmp_path / "again.onnx")
    assert again.exit_code == 0 and "export=already recorded" in again.stdout
    assert get_export(models.store, version.id, "onnx") == record
    assert get_export(models.store, resolve(models.store, "churn@2").id, "onnx") is None
    shown = run_json(cli, "models", "show", "churn@1")
    assert shown["exports"]["onnx"]["artifact"] == f"blake3:{record.artifact_hash}"
    assert "onnx export=blake3:" in cli("models", "show", "churn@1").stdout
    audit = run_json(cli, "audit", "--model", "churn")
    assert [e["subject"] for e in audit if e["action"] == "export"] == ["churn@1"]

    deployed = run_json(cli, "deploy", "api", "churn@champion", "--runtime", "onnx")
    assert deployed["runtime"] == "onnx" and deployed["primary"]["ref"] == "churn@1"
    canary = cli("deploy", "api", "churn@1", "--canary", "churn@2", "--weight", "5", "--runtime", "onnx")  # fmt: skip
    assert canary.exit_code == 2 and "export of churn@2" in canary.stderr


def test_following_onto_a_version_without_an_export_falls_back_to_python_and_says_so(
    cli: Any, models: Workspace, tmp_path: Path
) -> None:
    assert cli("models", "export", "churn@1", "--onnx", tmp_path / "m.onnx").exit_code == 0
    service.deploy(models.store, "api", "churn@champion", runtime="onnx", actor="t")
    promote(
        models.store, models.artifacts, name="churn", version=2, alias="champion", gate=None, actor="t"
    )  # fmt: skip
    (followed,) = service.follow_aliases(models.store, "server")
    assert (followed.primary.ref, followed.runtime) == ("churn@2", "python")
    assert "no checked ONNX export of churn@2, so served by python" in (followed.reason or "")
