"""Fixtures for the tracking tests: a dataset version in the store, a real git repository."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from mloop.ids import new_id
from mloop.store import tables as t
from mloop.workspace import Workspace


@dataclass(frozen=True)
class StoredVersion:
    """Stands in for the data team's ``DatasetVersion``: ``log_input`` only needs ``.id``."""

    id: str
    name: str
    version: int
    content_hash: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@pytest.fixture
def dataset_version(workspace: Workspace) -> StoredVersion:
    """Version 1 of dataset 'churn', written straight into the store's tables."""
    now = dt.datetime.now(dt.UTC)
    dataset_id, version_id, digest = new_id(), new_id(), "ab" * 32
    with workspace.store.transaction() as conn:
        conn.execute(t.datasets.insert().values(id=dataset_id, name="churn", created_at=now))
        conn.execute(
            t.dataset_versions.insert().values(
                id=version_id,
                dataset_id=dataset_id,
                version=1,
                content_hash=digest,
                format="csv",
                source_path="churn.csv",
                size_bytes=10,
                row_count=2,
                column_count=1,
                schema={},
                profile={},
                created_at=now,
                created_by="tester",
            )
        )
    return StoredVersion(version_id, "churn", 1, digest)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A repository with one commit holding ``train.py`` and ``README``."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ada@example.com")
    git(repo, "config", "user.name", "Ada")
    (repo / "README").write_text("hello\n")
    (repo / "train.py").write_text("print('train')\n")
    git(repo, "add", "README", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    return repo
