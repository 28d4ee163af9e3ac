"""Whole-store verification: every blob re-hashed, every hash the metadata names present."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from mloop.artifacts.base import ArtifactStore, BlobProblem
from mloop.store import Store
from mloop.store import tables as t


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    problems: list[BlobProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def referenced_hashes(store: Store) -> set[str]:
    with store.read() as conn:
        found: set[str] = set()
        for column in (
            t.dataset_versions.c.content_hash,
            t.run_artifacts.c.blob_hash,
            t.model_versions.c.artifact_hash,
        ):
            found.update(conn.execute(sa.select(column).distinct()).scalars())
    return found


def verify_store(
    store: Store, artifacts: ArtifactStore, *, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Re-hash every blob and check that every referenced blob exists."""
    present = set(artifacts.hashes())
    wanted = referenced_hashes(store)
    problems = [
        BlobProblem(h, "missing (referenced by metadata)") for h in sorted(wanted - present)
    ]
    total = len(present)
    for done, digest in enumerate(sorted(present), start=1):
        problem = artifacts.verify(digest)
        if problem:
            problems.append(problem)
        if progress:
            progress(done, total)
    return VerifyReport(checked=total, problems=problems)
