"""Whole-store verification: every blob re-hashed, every hash the metadata names present."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa

from mloop.artifacts.base import ArtifactStore, BlobProblem
from mloop.store import Store
from mloop.store import tables as t


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    problems: list[BlobProblem] = field(default_factory=list)
    # What each damaged blob holds ("dataset churn@1", "model churn@3", "run 01… artifact model"):
    # the damage a user has to repair or retrain.
    used_by: dict[str, list[str]] = field(default_factory=dict)

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


IN_BATCH = 500  # hashes per query: SQLite caps the variables one statement may bind


def users_of(store: Store, hashes: set[str]) -> dict[str, list[str]]:
    """For each hash, the dataset versions, model versions and run artifacts that point at it."""
    found: dict[str, list[str]] = {h: [] for h in hashes}
    wanted = sorted(hashes)
    with store.read() as conn:
        for start in range(0, len(wanted), IN_BATCH):
            _collect(conn, wanted[start : start + IN_BATCH], found)
    return found


def _collect(conn: sa.Connection, hashes: list[str], found: dict[str, list[str]]) -> None:
    dv, d = t.dataset_versions, t.datasets
    mv, m = t.model_versions, t.models
    ra = t.run_artifacts
    for digest, name, version in conn.execute(
        sa.select(dv.c.content_hash, d.c.name, dv.c.version)
        .join(d, d.c.id == dv.c.dataset_id)
        .where(dv.c.content_hash.in_(hashes))
        .order_by(d.c.name, dv.c.version)
    ):
        found[digest].append(f"dataset {name}@{version}")
    for digest, name, version in conn.execute(
        sa.select(mv.c.artifact_hash, m.c.name, mv.c.version)
        .join(m, m.c.id == mv.c.model_id)
        .where(mv.c.artifact_hash.in_(hashes))
        .order_by(m.c.name, mv.c.version)
    ):
        found[digest].append(f"model {name}@{version}")
    for digest, run_id, path in conn.execute(
        sa.select(ra.c.blob_hash, ra.c.run_id, ra.c.path)
        .where(ra.c.blob_hash.in_(hashes))
        .order_by(ra.c.run_id, ra.c.path)
    ):
        found[digest].append(f"run {run_id} artifact {path}")


def verify_store(
    store: Store, artifacts: ArtifactStore, *, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Re-hash every blob and check that every referenced blob exists.

    Blobs are hashed several at a time, one per core: hashing releases the GIL, so many small
    blobs use every core (a large one uses them all by itself), and a remote store overlaps its
    reads the same way.
    """
    present = set(artifacts.hashes())
    wanted = referenced_hashes(store)
    problems = [
        BlobProblem(h, "missing (referenced by metadata)") for h in sorted(wanted - present)
    ]
    total = len(present)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for done, problem in enumerate(pool.map(artifacts.verify, sorted(present)), start=1):
            if problem:
                problems.append(problem)
            if progress:
                progress(done, total)
    return VerifyReport(
        checked=total,
        problems=problems,
        used_by=users_of(store, {p.hash for p in problems}),
    )
