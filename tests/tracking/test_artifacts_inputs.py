"""Artifacts under logical names over content-addressed blobs; inputs link runs to dataset versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mloop.errors import InvalidInput, NotFound
from mloop.tracking import runs
from mloop.tracking.fluent import start_run
from mloop.workspace import Workspace

from .conftest import StoredVersion


def test_a_file_and_a_folder_are_logged_under_logical_names(
    workspace: Workspace, tmp_path: Path
) -> None:
    report = tmp_path / "report.txt"
    report.write_text("accuracy 0.9\n")
    plots = tmp_path / "plots"
    (plots / "by_segment").mkdir(parents=True)
    (plots / "roc.png").write_bytes(b"\x89PNG roc")
    (plots / "by_segment" / "age.png").write_bytes(b"\x89PNG age")
    with start_run(workspace=workspace) as run:
        run.log_artifact(report)
        run.log_artifact(report, name="reports/final.txt")
        logged = run.log_artifact(plots, name="figures")
    assert [r.path for r in logged] == ["figures/by_segment/age.png", "figures/roc.png"]
    found = {a.path: a for a in runs.get_run(workspace.store, run.id).artifacts}
    assert sorted(found) == [
        "figures/by_segment/age.png",
        "figures/roc.png",
        "report.txt",
        "reports/final.txt",
    ]
    assert found["report.txt"].blob_hash == found["reports/final.txt"].blob_hash  # stored once
    assert found["report.txt"].size_bytes == len("accuracy 0.9\n")
    assert workspace.artifacts.get_bytes(found["figures/roc.png"].blob_hash) == b"\x89PNG roc"


def test_logging_a_name_again_points_it_at_the_new_bytes(workspace: Workspace) -> None:
    with start_run(workspace=workspace) as run:
        store, artifacts = workspace.store, workspace.artifacts
        runs.log_artifact_bytes(store, artifacts, run.id, "notes.md", b"v1", kind="text")
        second = runs.log_artifact_bytes(store, artifacts, run.id, "./notes.md", b"v2", kind="text")
    (only,) = runs.get_run(workspace.store, run.id).artifacts
    assert (only.path, only.kind, only.blob_hash) == ("notes.md", "text", second.blob_hash)


def test_artifact_names_cannot_climb_out(workspace: Workspace) -> None:
    with start_run(workspace=workspace) as run:
        for name in ("../escape.txt", "a/../../b", "..", "/", ""):
            with pytest.raises(InvalidInput, match="must be a relative name"):
                runs.log_artifact_bytes(workspace.store, workspace.artifacts, run.id, name, b"x")
    assert runs.get_run(workspace.store, run.id).artifacts == []


def test_a_folder_follows_symbolic_links_but_not_loops(
    workspace: Workspace, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "vocab.txt").write_text("a b c\n")
    out = tmp_path / "out"
    (out / "empty").mkdir(parents=True)
    (out / "logs").mkdir()
    (out / "weights.bin").write_bytes(b"w")
    (out / "latest.bin").symlink_to("weights.bin")
    (out / "vocab").symlink_to(shared)  # a linked folder: its files were silently left out
    (out / "logs" / "up").symlink_to(out)  # a loop
    with start_run(workspace=workspace) as run:
        logged = run.log_artifact(out)
        assert run.log_artifact(out / "empty") == []
    assert [r.path for r in logged] == ["out/latest.bin", "out/vocab/vocab.txt", "out/weights.bin"]
    (out / "gone.bin").symlink_to(tmp_path / "deleted.bin")
    with (
        start_run(workspace=workspace) as run,
        pytest.raises(InvalidInput, match=r"gone\.bin is a broken symbolic link"),
    ):
        run.log_artifact(out)  # was a bare FileNotFoundError


def test_a_missing_artifact_path_is_invalid_input(workspace: Workspace, tmp_path: Path) -> None:
    with (
        start_run(workspace=workspace) as run,
        pytest.raises(InvalidInput, match=r"Cannot log artifact .*nope\.bin: no such file"),
    ):
        run.log_artifact(tmp_path / "nope.bin")


def test_log_input_links_a_dataset_version_by_object_id_or_ref(
    workspace: Workspace, dataset_version: StoredVersion
) -> None:
    with start_run(workspace=workspace) as run:
        run.log_input(dataset_version)
        run.log_input(dataset_version.id)  # the same link again: recorded once
        run.log_input(dataset_version.ref, role="eval")
    inputs = runs.get_run(workspace.store, run.id).inputs
    assert [(i.role, i.dataset_ref, i.content_hash) for i in inputs] == [
        ("eval", "churn@1", dataset_version.content_hash),
        ("train", "churn@1", dataset_version.content_hash),
    ]
    assert {i.dataset_version_id for i in inputs} == {dataset_version.id}


def test_an_unknown_dataset_version_is_not_found(
    workspace: Workspace, dataset_version: StoredVersion
) -> None:
    hint = r"`mloop data ls` lists datasets and their versions\."
    with start_run(workspace=workspace) as run:
        for version in ("nope", "churn@7", "ghost@1"):
            with pytest.raises(NotFound, match=rf"No dataset version '{version}'; {hint}"):
                run.log_input(version)
