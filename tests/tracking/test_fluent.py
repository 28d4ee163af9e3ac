"""``with start_run() as run``: the run's life cycle and the current-run context."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import mloop
from mloop.errors import InvalidInput, NotFound
from mloop.tracking import runs
from mloop.tracking.fluent import PARENT_TAG, ActiveRun, active_run, start_run
from mloop.workspace import Workspace


def _fail(message: str) -> None:
    raise ValueError(message)


def test_a_run_that_raises_ends_failed_with_the_error_recorded(workspace: Workspace) -> None:
    with (
        pytest.raises(ValueError, match="learning rate too high"),
        start_run("crash", workspace=workspace) as run,
    ):
        run.log_metric("loss", 1.0)
        _fail("learning rate too high")
    found = runs.get_run(workspace.store, run.id)
    assert found.info.status == "FAILED"
    assert found.info.ended_at is not None
    error = found.info.error or ""
    assert error.splitlines()[0] == "ValueError: learning rate too high"
    assert "in _fail" in error and "test_fluent.py" in error  # the traceback's tail
    assert found.metrics == {"loss": 1.0}  # what was logged before the crash is kept
    assert active_run() is None


def test_keyboard_interrupt_ends_the_run_killed(workspace: Workspace) -> None:
    with pytest.raises(KeyboardInterrupt), start_run(workspace=workspace) as run:
        raise KeyboardInterrupt
    assert runs.get_run(workspace.store, run.id).info.status == "KILLED"


def test_a_clean_run_ends_finished_with_user_and_name(workspace: Workspace) -> None:
    with start_run("churn", name="baseline", workspace=workspace) as run:
        assert runs.get_run(workspace.store, run.id).info.status == "RUNNING"
    info = runs.get_run(workspace.store, run.id).info
    assert (info.status, info.experiment, info.name, info.user) == (
        "FINISHED",
        "churn",
        "baseline",
        "tester",
    )
    assert info.error is None and info.duration_s is not None and info.duration_s >= 0
    assert run.status == "FINISHED"


def test_the_current_run_is_scoped_by_with_and_nested_runs_restore_the_outer(
    workspace: Workspace,
) -> None:
    assert active_run() is None
    with start_run(workspace=workspace) as outer:
        assert active_run() is outer
        with start_run(workspace=workspace) as inner:
            assert active_run() is inner
        assert active_run() is outer
        seen: list[ActiveRun | None] = []
        worker = threading.Thread(target=lambda: seen.append(active_run()))
        worker.start()
        worker.join()
        assert seen == [None]  # a new thread does not inherit the current run
    assert active_run() is None
    assert runs.get_run(workspace.store, inner.id).tags == {PARENT_TAG: outer.id}


def test_logging_after_the_run_ended_is_refused(workspace: Workspace) -> None:
    with start_run(workspace=workspace) as run:
        run.log_metric("loss", 1.0)
    attempts: list[Callable[[], None]] = [
        lambda: run.log_metric("loss", 2.0),
        lambda: run.log_metric("new", 2.0),
        lambda: run.log_param("a", 1),
        lambda: run.set_tag("a", 1),
    ]
    for log in attempts:
        with pytest.raises(InvalidInput, match=rf"Run {run.id} has ended \(FINISHED\)"):
            log()
    run.end()  # a second end does nothing


def test_start_run_opens_a_workspace_folder_and_closes_it(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOOP_STORE_URL", workspace.settings.store_url)
    with start_run(workspace=workspace.root) as run:
        assert run.workspace is not workspace
        run.log_metric("loss", 0.5)
    assert runs.get_run(workspace.store, run.id).metrics == {"loss": 0.5}


def test_start_run_without_a_workspace_is_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error speaks Python: `--workspace` is a CLI flag a script cannot pass."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFound, match=r"mloop\.Workspace\.init\(FOLDER\).*start_run\(workspace="):
        start_run()
    with pytest.raises(
        NotFound, match=r"start_run\(workspace='elsewhere'\) is not an mloop"
    ) as err:
        start_run(workspace="elsewhere")
    assert "--workspace" not in str(err.value)


def test_mloop_exports_start_run_and_active_run() -> None:
    assert "start_run" in mloop.__all__ and "active_run" in mloop.__all__
    assert callable(mloop.start_run) and mloop.active_run() is None
