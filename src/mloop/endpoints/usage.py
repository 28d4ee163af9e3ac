"""Where a model version went after the registry: the endpoint revisions that served it and the
predictions it made, so its lineage runs from its data to its answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mloop.endpoints.service import history, list_endpoints
from mloop.errors import NotFound
from mloop.predlog import connect
from mloop.predlog.reader import log_folder
from mloop.store import Store


@dataclass(frozen=True)
class Served:
    endpoint: str
    revisions: tuple[tuple[int, str], ...]  # (revision number, role)
    predictions: dict[str, int]  # role -> records logged for this version
    first: dt.datetime | None
    last: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "revisions": [{"revision": n, "role": role} for n, role in self.revisions],
            "predictions": self.predictions,
            "first": None if self.first is None else self.first.isoformat(),
            "last": None if self.last is None else self.last.isoformat(),
        }


def _logged(log_root: Path, endpoint: str, model: str, version: int) -> tuple[Any, ...]:
    try:
        log_folder(log_root, endpoint)
    except NotFound:  # served, but nothing logged yet
        return {}, None, None
    con = connect(log_root, endpoint)
    try:
        names = {str(r[0]) for r in con.execute("DESCRIBE log").fetchall()}
        if not {"model", "version", "role"} <= names:
            return {}, None, None
        rows = con.execute(
            "SELECT role, count(*), min(timestamp), max(timestamp) FROM log "
            "WHERE model = ? AND version = ? GROUP BY role ORDER BY role",
            [model, version],
        ).fetchall()
    finally:
        con.close()
    counts = {str(role): int(n) for role, n, _, _ in rows}
    firsts = [r[2] for r in rows if r[2] is not None]
    lasts = [r[3] for r in rows if r[3] is not None]
    return counts, min(firsts, default=None), max(lasts, default=None)


def served(store: Store, log_root: Path, model: str, version: int) -> list[Served]:
    """Every endpoint that ever served ``model@version``, with its revisions and predictions."""
    found = []
    for state in list_endpoints(store):
        revisions = tuple(
            (revision.number, role)
            for revision in history(store, state.name)
            for role, slot in revision.slots().items()
            if slot.model == model and slot.version == version
        )
        if not revisions:
            continue
        counts, first, last = _logged(log_root, state.name, model, version)
        found.append(Served(state.name, revisions, counts, first, last))
    return found
