"""Model versions: immutable, numbered per model, each pointing at one verified blob and one run.

``NAME@N`` names a version, ``NAME@ALIAS`` whatever the alias holds now, ``NAME`` or
``NAME@latest`` the newest version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from mloop.data import refs
from mloop.errors import NotFound
from mloop.signature import Signature
from mloop.store import Store
from mloop.store import tables as t


@dataclass(frozen=True)
class ModelVersion:
    id: str
    model_id: str
    name: str
    version: int
    run_id: str | None
    flavor: str
    artifact_hash: str
    signature: Signature
    metrics: dict[str, float]
    created_at: dt.datetime
    created_by: str
    aliases: tuple[str, ...] = field(default=())

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def __repr__(self) -> str:
        # The signature holds the whole input schema; print(version) should fit on a line.
        run = f", run {self.run_id}" if self.run_id else ""
        aliases = f", aliases: {', '.join(self.aliases)}" if self.aliases else ""
        return f"ModelVersion({self.ref}, {self.flavor}{run}{aliases})"


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest_version: int
    versions: int
    aliases: dict[str, int]
    created_at: dt.datetime


def check_name(name: str, *, fix: str = refs.VERSION_ARGUMENT) -> str:
    return refs.check_name(name, what="Model name", fix=fix)


def model_id_in(conn: sa.Connection, name: str) -> str:
    """The id of model ``name``; raises ``NotFound`` naming the registered models."""
    model_id = conn.execute(sa.select(t.models.c.id).where(t.models.c.name == name)).scalar()
    if model_id is None:
        known = list(
            conn.execute(
                sa.select(t.models.c.name).order_by(t.models.c.name).limit(refs.SHORTLIST)
            ).scalars()
        )
        total = conn.execute(sa.select(sa.func.count()).select_from(t.models)).scalar_one()
        hint = (
            f"models are: {refs.shortlist(known, total=total)}"
            if known
            else "no model is registered yet"
        )
        raise NotFound(f"No model named {name!r}; {hint} (`mloop models ls`).")
    return str(model_id)


def require_model(store: Store, name: str) -> None:
    """Raises ``NotFound`` naming the registered models when there is no model ``name``."""
    with store.read() as conn:
        model_id_in(conn, check_name(name))


def _aliases_by_version(conn: sa.Connection, model_id: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    rows = conn.execute(
        sa.select(t.aliases.c.alias, t.aliases.c.model_version_id)
        .where(t.aliases.c.model_id == model_id)
        .order_by(t.aliases.c.alias)
    )
    for alias, version_id in rows:
        found.setdefault(version_id, []).append(alias)
    return found


def _to_version(row: Any, name: str, aliases: Mapping[str, list[str]]) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        model_id=row.model_id,
        name=name,
        version=row.version,
        run_id=row.run_id,
        flavor=row.flavor,
        artifact_hash=row.artifact_hash,
        signature=Signature.from_stored(row.signature),
        metrics={k: float(v) for k, v in (row.metrics or {}).items()},
        created_at=row.created_at,
        created_by=row.created_by,
        aliases=tuple(aliases.get(row.id, ())),
    )


def resolve_in(conn: sa.Connection, ref: str) -> ModelVersion:
    """Resolve a reference inside an open transaction; raises ``NotFound`` saying what exists."""
    parsed = refs.parse_ref(ref, what="Model name")
    name, selector = parsed.name, parsed.selector
    model_id = model_id_in(conn, name)
    aliases = _aliases_by_version(conn, model_id)
    query = sa.select(t.model_versions).where(t.model_versions.c.model_id == model_id)
    if selector is None or selector == "latest":
        row = conn.execute(query.order_by(t.model_versions.c.version.desc()).limit(1)).first()
    elif selector.isdigit():
        row = conn.execute(query.where(t.model_versions.c.version == int(selector))).first()
    else:
        version_id = conn.execute(
            sa.select(t.aliases.c.model_version_id).where(
                t.aliases.c.model_id == model_id, t.aliases.c.alias == selector
            )
        ).scalar()
        if version_id is None:
            known = sorted({a for names in aliases.values() for a in names})
            hint = f"its aliases are: {', '.join(known)}" if known else "it has no aliases yet"
            raise NotFound(f"Model {name!r} has no alias {selector!r}; {hint}.")
        row = conn.execute(query.where(t.model_versions.c.id == version_id)).first()
    if row is None:
        count = conn.execute(
            sa.select(sa.func.max(t.model_versions.c.version)).where(
                t.model_versions.c.model_id == model_id
            )
        ).scalar()
        hint = f"versions are 1..{count}" if count else "it has no versions yet"
        raise NotFound(f"Model {name!r} has no version {selector}; {hint}.")
    return _to_version(row, name, aliases)


def resolve(store: Store, ref: str) -> ModelVersion:
    with store.read() as conn:
        return resolve_in(conn, ref)


def version_by_id(conn: sa.Connection, version_id: str) -> ModelVersion:
    row = conn.execute(sa.select(t.model_versions).where(t.model_versions.c.id == version_id)).one()
    name = conn.execute(
        sa.select(t.models.c.name).where(t.models.c.id == row.model_id)
    ).scalar_one()
    return _to_version(row, name, _aliases_by_version(conn, row.model_id))


def list_versions(store: Store, name: str) -> list[ModelVersion]:
    with store.read() as conn:
        model_id = model_id_in(conn, check_name(name))
        aliases = _aliases_by_version(conn, model_id)
        rows = conn.execute(
            sa.select(t.model_versions)
            .where(t.model_versions.c.model_id == model_id)
            .order_by(t.model_versions.c.version)
        )
        return [_to_version(row, name, aliases) for row in rows]


def list_models(store: Store) -> list[ModelSummary]:
    with store.read() as conn:
        counts = (
            sa.select(
                t.model_versions.c.model_id,
                sa.func.count().label("n"),
                sa.func.max(t.model_versions.c.version).label("latest"),
            )
            .group_by(t.model_versions.c.model_id)
            .subquery()
        )
        models = conn.execute(
            sa.select(
                t.models.c.id, t.models.c.name, t.models.c.created_at, counts.c.n, counts.c.latest
            )
            .select_from(t.models.outerjoin(counts, counts.c.model_id == t.models.c.id))
            .order_by(t.models.c.name)
        ).all()
        alias_rows = conn.execute(
            sa.select(t.aliases.c.model_id, t.aliases.c.alias, t.model_versions.c.version).join(
                t.model_versions, t.model_versions.c.id == t.aliases.c.model_version_id
            )
        ).all()
    by_model: dict[str, dict[str, int]] = {}
    for model_id, alias, version in alias_rows:
        by_model.setdefault(model_id, {})[alias] = version
    return [
        ModelSummary(
            name=row.name,
            latest_version=row.latest or 0,
            versions=row.n or 0,
            aliases=dict(sorted(by_model.get(row.id, {}).items())),
            created_at=row.created_at,
        )
        for row in models
    ]
