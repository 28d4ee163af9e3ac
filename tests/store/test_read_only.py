"""A workspace its user can read but not write (a published, shared registry) still answers reads.

SQLite in WAL mode writes its index file even to read, so without care every command failed with
"attempt to write a readonly database". Root ignores file permissions, so the reads run as the
unprivileged user ``nobody`` (via util-linux's setpriv); the test is skipped where that cannot run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import mloop_here

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _as_nobody(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    env["HOME"] = str(cwd)
    return subprocess.run(
        [*NOBODY, sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture
def shared_workspace() -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="mloop-shared-"))
    folder.chmod(0o755)
    try:
        probe = _as_nobody("-c", "import mloop", cwd=folder)
        if probe.returncode != 0:
            pytest.skip(f"user nobody cannot import mloop here: {probe.stderr.strip()[-200:]}")
        assert mloop_here("init", ".", cwd=folder).returncode == 0
        (folder / "plans.csv").write_text("plan,price\nbasic,10\npro,20\n")
        assert mloop_here("data", "add", "plans", "plans.csv", cwd=folder).returncode == 0
        exported = mloop_here("data", "schema", "plans", "--export", "schema.json", cwd=folder)
        assert exported.returncode == 0
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_reads_work_and_writes_are_one_sentence(shared_workspace: Path) -> None:
    listed = _as_nobody("-m", "mloop", "data", "ls", "--json", cwd=shared_workspace)
    assert listed.returncode == 0, listed.stderr
    assert [d["name"] for d in json.loads(listed.stdout)] == ["plans"]
    shown = _as_nobody("-m", "mloop", "runs", "ls", cwd=shared_workspace)
    assert shown.returncode == 0, shown.stderr
    write = _as_nobody(
        "-m", "mloop", "data", "schema", "plans", "--import", "schema.json", cwd=shared_workspace
    )  # fmt: skip
    assert write.returncode == 2, write.stderr
    assert "read-only for this user" in write.stderr and "Traceback" not in write.stderr
    assert len(write.stderr.strip().splitlines()) == 1
