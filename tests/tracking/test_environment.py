"""The environment a run records: Python, packages, host, script and git state."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mloop.tracking import runs
from mloop.tracking.environment import capture_environment, git_state, installed
from mloop.workspace import Workspace

from .conftest import git

SCRIPT = """\
import sys
from mloop.tracking.fluent import start_run

run = start_run("env", workspace=sys.argv[1])
run.log_metric("loss", 0.5)
print(run.id)
if sys.argv[2] == "raise":
    raise RuntimeError("the GPU caught fire")
"""  # never ended: the interpreter's exit ends it


def test_git_state_has_commit_branch_and_dirty_flag(git_repo: Path) -> None:
    state = git_state(git_repo)
    assert state["commit"] == git(git_repo, "rev-parse", "HEAD")
    assert (state["branch"], state["dirty"], state["root"]) == ("main", False, str(git_repo))
    (git_repo / "notes.txt").write_text("untracked files do not make a repository dirty\n")
    assert git_state(git_repo)["dirty"] is False
    (git_repo / "README").write_text("changed\n")
    assert git_state(git_repo / ".")["dirty"] is True


def test_outside_a_repository_git_fields_are_none(tmp_path: Path) -> None:
    env = capture_environment(tmp_path)
    assert env["python"] == platform.python_version()
    assert env["host"] and "sqlalchemy" in env["packages"]
    assert env["git_commit"] is None and env["git_dirty"] is None


def test_an_installed_command_records_the_users_repository_not_its_own(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.venv/bin/mloop` (or pytest) may live inside some repository; the user's code is in cwd's."""
    script = Path(sys.prefix) / "bin" / "tool"
    script.write_text("# an installed entry point\n")
    # monkeypatch deletes the attribute again when the worker's __main__ had none: Ray reads a
    # present-but-None __main__.__file__ as the driver's name and fails in CoreWorker start-up.
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(script), raising=False)
    try:
        env = capture_environment(git_repo)
    finally:
        script.unlink()
    assert env["script"] == str(script.resolve())
    assert env["git"]["root"] == str(git_repo)
    assert env["git_commit"] == git(git_repo, "rev-parse", "HEAD")


@pytest.mark.parametrize("ending", ["exit", "raise"])
def test_a_script_in_a_git_repo_records_its_environment_and_is_ended_at_exit(
    workspace: Workspace, git_repo: Path, tmp_path: Path, ending: str
) -> None:
    script = git_repo / "train.py"
    script.write_text(SCRIPT)  # the tracked file now differs from the commit: dirty
    done = subprocess.run(
        [sys.executable, str(script), str(workspace.root), ending],
        cwd=tmp_path,  # run from elsewhere: git is asked about the script's folder
        env={"MLOOP_STORE_URL": workspace.settings.store_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == (0 if ending == "exit" else 1), done.stderr
    found = runs.get_run(workspace.store, done.stdout.strip())
    env = found.info.environment
    assert env["python"] == platform.python_version()
    assert env["script"] == str(script.resolve())
    assert env["git_commit"] == git(git_repo, "rev-parse", "HEAD")
    assert env["git_dirty"] is True
    assert env["git"]["branch"] == "main"
    assert env["packages"]["sqlalchemy"]
    assert "argv" not in env  # command lines can hold secrets
    assert found.metrics == {"loss": 0.5}
    if ending == "exit":
        assert (found.info.status, found.info.error) == ("FINISHED", None)
    else:
        assert found.info.status == "FAILED"
        assert (found.info.error or "").startswith("RuntimeError: the GPU caught fire")


def _uncached() -> dict[str, str]:
    packages: dict[str, str] = installed.__wrapped__()["packages"]
    return packages


def test_installed_packages_agree_with_importlib_metadata() -> None:
    """Read from folder names, not METADATA files: the same names and versions either way."""
    import importlib.metadata
    import re

    expected = {
        re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
        for d in importlib.metadata.distributions()
        if d.metadata["Name"]
    }
    found = _uncached()
    assert {k: found.get(k) for k in expected} == expected


def test_the_package_cache_follows_installs_and_lives_in_the_users_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    (site / "Fancy_Lib-1.2.3.dist-info").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert _uncached()["fancy-lib"] == "1.2.3"
    assert list((tmp_path / "cache" / "mloop").glob("environment-*.json"))
    shutil.rmtree(site / "Fancy_Lib-1.2.3.dist-info")  # an upgrade renames the folder
    upgraded = site / "fancy_lib-2.0.dist-info"
    upgraded.mkdir()
    os.utime(site, ns=(time.time_ns(), time.time_ns() + 10**9))  # coarse clocks: move it on
    assert _uncached()["fancy-lib"] == "2.0"
    # a folder without a version in its name: the METADATA header says (and only it is read)
    (site / "plain.dist-info").mkdir()
    (site / "plain.dist-info" / "METADATA").write_text("Name: plain\nVersion: 0.9\n\nbody\n")
    os.utime(site, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert _uncached()["plain"] == "0.9"


def test_start_run_stores_the_git_state_without_waiting_for_it(
    workspace: Workspace, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Git runs in a thread; flush() (and so log_model and the end) sees its fields stored."""
    from mloop.tracking.fluent import start_run

    monkeypatch.chdir(git_repo)
    with start_run("env", workspace=workspace) as run:
        run.flush()
        env = runs.get_run(workspace.store, run.id).info.environment
        assert env["git_commit"] == git(git_repo, "rev-parse", "HEAD")
        assert env["platform"] == platform.platform() and env["packages"]
    assert runs.get_run(workspace.store, run.id).info.environment["git"]["branch"] == "main"
