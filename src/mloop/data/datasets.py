"""Datasets and their versions: immutable, content-addressed snapshots with schema and profile.

The same bytes are the same version: adding them again reads and writes nothing else. A file is
hashed first (BLAKE3 over mmap, at memory speed) when it is small or a version of its size exists;
a big new file is hashed while it is streamed into the store. A new version is parsed, typed and profiled, checked
against the dataset's current schema when asked, stored as a blob, and recorded in one
transaction, so a failed add leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from mloop import audit
from mloop.artifacts import ArtifactStore
from mloop.config import readable
from mloop.data.compiled import CompiledSchema
from mloop.data.csv_stream import STREAM_FROM
from mloop.data.io import (
    EmptyRows,
    empty_rows_note,
    header_warning,
    in_known_formats,
    one_column_warning,
    read_arrow,
    read_table,
    separator_of,
    table_format,
)
from mloop.data.profile import infer_and_profile, upgrade
from mloop.data.refs import (
    NUMBERED,
    SHORTLIST,
    WHOLE_DATASET,
    check_name,
    parse_ref,
    shortlist,
)
from mloop.data.schema import Schema
from mloop.data.schema_changes import SchemaChanges, schema_changes
from mloop.data.streaming import snapshot_csv
from mloop.data.violations import ValidationReport
from mloop.errors import InvalidInput, NotFound, ValidationFailed
from mloop.hashing import hash_chunks, hash_file
from mloop.ids import new_id
from mloop.plural import plural
from mloop.store import Store
from mloop.store import tables as t
from mloop.store.sequences import lock_parent, newest_number, next_number


@dataclass(frozen=True)
class DatasetVersion:
    id: str
    dataset_id: str
    name: str
    version: int
    content_hash: str
    format: str
    source_path: str
    size_bytes: int
    row_count: int
    column_count: int
    schema: Schema
    profile: dict[str, Any]
    parent_id: str | None
    created_at: dt.datetime
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def __repr__(self) -> str:
        # The profile and schema run to kilobytes; print(version) should fit on a line.
        rows, columns = plural(self.row_count, "row"), plural(self.column_count, "column")
        return f"DatasetVersion({self.ref}, {rows}, {columns})"


@dataclass(frozen=True)
class AddResult:
    version: DatasetVersion
    created: bool
    validation: ValidationReport | None = None
    # What the caller should tell the user about how the file was read (a likely misread separator).
    warnings: tuple[str, ...] = ()
    # What it read, said once without alarm (the empty rows it left out).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    versions: int
    latest_version: int
    rows: int
    columns: int
    content_hash: str
    updated_at: dt.datetime


def _to_version(row: Any, name: str) -> DatasetVersion:
    return DatasetVersion(
        id=row.id,
        dataset_id=row.dataset_id,
        name=name,
        version=row.version,
        content_hash=row.content_hash,
        format=row.format,
        source_path=row.source_path,
        size_bytes=row.size_bytes,
        row_count=row.row_count,
        column_count=row.column_count,
        schema=Schema.from_json(row.schema),
        profile=upgrade(dict(row.profile)),
        parent_id=row.parent_id,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _dataset_id(conn: sa.Connection, name: str) -> str | None:
    value = conn.execute(sa.select(t.datasets.c.id).where(t.datasets.c.name == name)).scalar()
    return None if value is None else str(value)


def _known_names(conn: sa.Connection) -> str:
    """What exists, for a "no dataset named …" message: at most SHORTLIST names and the count."""
    names = list(
        conn.execute(sa.select(t.datasets.c.name).order_by(t.datasets.c.name).limit(SHORTLIST))
        .scalars()
        .all()
    )
    if not names:
        return "no dataset has been added yet (`mloop data add NAME FILE` adds one)"
    total = len(names)
    if total == SHORTLIST:
        total = conn.execute(sa.select(sa.func.count()).select_from(t.datasets)).scalar_one()
    hint = f"datasets are: {shortlist(names, total=total)}"
    return hint + ("; `mloop data ls` lists them" if total > len(names) else "")


def get_version_in(conn: sa.Connection, ref: str) -> DatasetVersion:
    parsed = parse_ref(ref, what="Dataset name")
    dataset_id = _dataset_id(conn, parsed.name)
    if dataset_id is None:
        raise NotFound(f"No dataset named {parsed.name!r}; {_known_names(conn)}.")
    query = sa.select(t.dataset_versions).where(t.dataset_versions.c.dataset_id == dataset_id)
    if parsed.latest:
        row = conn.execute(query.order_by(t.dataset_versions.c.version.desc()).limit(1)).first()
    elif parsed.version is not None:
        row = conn.execute(query.where(t.dataset_versions.c.version == parsed.version)).first()
    else:
        raise InvalidInput(
            f"{ref!r}: a dataset version is NAME@N or NAME@latest, not @{parsed.selector}."
        )
    if row is None:
        newest = conn.execute(
            sa.select(sa.func.max(t.dataset_versions.c.version)).where(
                t.dataset_versions.c.dataset_id == dataset_id
            )
        ).scalar()
        raise NotFound(
            f"Dataset {parsed.name!r} has no version {parsed.selector}; versions are 1..{newest}."
        )
    return _to_version(row, parsed.name)


def get_version(store: Store, ref: str) -> DatasetVersion:
    """``NAME``, ``NAME@latest`` or ``NAME@N``; raises ``NotFound`` saying what exists."""
    with store.read() as conn:
        return get_version_in(conn, ref)


def _current_schema_in(conn: sa.Connection, dataset_id: str) -> Schema:
    return _current_revision_in(conn, dataset_id)[0]


def _current_revision_in(conn: sa.Connection, dataset_id: str) -> tuple[Schema, int]:
    row = conn.execute(
        sa.select(t.dataset_schemas.c.schema, t.dataset_schemas.c.revision)
        .where(t.dataset_schemas.c.dataset_id == dataset_id)
        .order_by(t.dataset_schemas.c.revision.desc())
        .limit(1)
    ).one()
    return Schema.from_json(row.schema), int(row.revision)


def current_schema(store: Store, name: str) -> Schema:
    """The dataset's current schema (its rules): the newest imported or inferred revision."""
    return current_schema_revision(store, name)[0]


def current_schema_revision(store: Store, name: str) -> tuple[Schema, int]:
    """The current schema and its revision number, which a model's signature records."""
    with store.read() as conn:
        dataset_id = _dataset_id(conn, check_name(name, what="Dataset name", fix=WHOLE_DATASET))
        if dataset_id is None:
            raise NotFound(f"No dataset named {name!r}; {_known_names(conn)}.")
        return _current_revision_in(conn, dataset_id)


def reference_profile(store: Store, name: str) -> dict[str, Any] | None:
    """The profile later data is compared with (outlier fences): the newest version's."""
    with store.read() as conn:
        dataset_id = _dataset_id(conn, check_name(name, what="Dataset name"))
        if dataset_id is None:
            return None
        profile = conn.execute(
            sa.select(t.dataset_versions.c.profile)
            .where(t.dataset_versions.c.dataset_id == dataset_id)
            .order_by(t.dataset_versions.c.version.desc())
            .limit(1)
        ).scalar()
    return None if profile is None else dict(profile)


def _validator(store: Store, name: str, root: Path | None) -> CompiledSchema:
    """``name``'s current schema, with outlier fences from the newest version's profile."""
    return current_schema(store, name).compile(reference_profile(store, name), root=root)


def validate_file(
    store: Store, name: str, path: Path, *, root: Path | None = None, sep: str | None = None
) -> ValidationReport:
    """Check a CSV or Parquet file against ``name``'s current schema, on Arrow (no pandas frame),
    with outlier fences from the newest version's profile. ``sep`` as for ``io.read_arrow``."""
    empty = EmptyRows()
    validator = _validator(store, name, root)
    table = read_arrow(
        Path(path).expanduser(),
        sep=sep,
        text_as_dictionary=True,
        empty=empty,
        formats=validator.schema.date_formats(),
    )
    return _numbered_in_file(validator.validate_table(table), empty)


def _numbered_in_file(report: ValidationReport, empty: EmptyRows) -> ValidationReport:
    """``report`` with its example rows numbered as in the file, the empty rows left out of the
    table counted again, so "row 57" is the file's 57th row after the header."""
    return dataclasses.replace(report.renumbered(empty.in_file), empty_rows=empty.count)


@dataclass(frozen=True)
class SchemaImport:
    revision: int
    changes: SchemaChanges


def import_schema(
    store: Store, name: str, schema: Schema, *, actor: str, replace: bool = False
) -> SchemaImport:
    """Import ``schema`` over the dataset's current one as a new revision, saying what changed.

    By default the file is merged by column (``mloop.data.schema_changes``); ``replace`` makes it
    the whole schema. Raises ``InvalidInput`` when a required column is not in the latest
    version: a misspelt name would otherwise fail every later validation as a "missing column".
    """
    with store.transaction() as conn:
        dataset_id = _dataset_id(conn, check_name(name, what="Dataset name", fix=WHOLE_DATASET))
        if dataset_id is None:
            raise NotFound(
                f"No dataset named {name!r}; add data first with `mloop data add {name} FILE`."
            )
        changes = schema_changes(_current_schema_in(conn, dataset_id), schema, replace=replace)
        latest = get_version_in(conn, f"{name}@latest")
        present = set(latest.schema.names())
        missing = [c.name for c in schema.columns if c.required and c.name not in present]
        if missing:
            raise InvalidInput(
                f"The schema's column {missing[0]!r} is not in {latest.ref} (its columns are: "
                f"{shortlist(latest.schema.names())}); fix the name, or set "
                '"required": false for a column still to come.'
            )
        lock_parent(conn, t.datasets, dataset_id)
        newest = newest_number(
            conn, t.dataset_schemas.c.revision, t.dataset_schemas.c.dataset_id == dataset_id
        )
        revision = (newest or 0) + 1
        audit.record(
            conn,
            actor=actor,
            action="schema_import",
            subject=f"{name} schema",
            from_value=None if newest is None else f"revision {newest}",
            to_value=f"revision {revision}",
            details={"columns": len(changes.schema.columns), **changes.summary()},
        )
        conn.execute(
            t.dataset_schemas.insert().values(
                id=new_id(),
                dataset_id=dataset_id,
                revision=revision,
                schema=changes.schema.to_json(),
                source="imported",
                created_at=dt.datetime.now(dt.UTC),
                created_by=actor,
            )
        )
    return SchemaImport(revision, changes)


def _existing(conn: sa.Connection, name: str, digest: str) -> DatasetVersion | None:
    row = conn.execute(
        sa.select(t.dataset_versions)
        .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
        .where(t.datasets.c.name == name, t.dataset_versions.c.content_hash == digest)
    ).first()
    return None if row is None else _to_version(row, name)


def _known(store: Store, name: str, path: Path) -> tuple[str | None, DatasetVersion | None, bool]:
    """The file's hash when it may be a version already, that version if so, and whether the
    dataset exists. The same bytes are the same version, so the answer for them must stay cheap;
    but a big file is hashed while it is streamed and stored, so it is hashed up front only when
    a version of the same size exists (a new file would otherwise be read twice)."""
    size = path.stat().st_size
    digest = hash_file(path) if size < STREAM_FROM else None
    with store.read() as conn:
        dataset_id = _dataset_id(conn, name)
        if digest is None and dataset_id is not None:
            same_size = conn.execute(
                sa.select(t.dataset_versions.c.id).where(
                    t.dataset_versions.c.dataset_id == dataset_id,
                    t.dataset_versions.c.size_bytes == size,
                )
            ).first()
            if same_size is None:
                return None, None, True
        if digest is not None or dataset_id is None:
            found = None if digest is None else _existing(conn, name, digest)
            return digest, found, dataset_id is not None
    # In chunks rather than mapped whole: a mapping of it all would count in the process's memory.
    digest = hash_chunks(path)
    with store.read() as conn:
        return digest, _existing(conn, name, digest), True


def _refuse_another_reading(path: Path, found: DatasetVersion, sep: str | None, fmt: str) -> None:
    """The same bytes with another ``--sep`` would be another table under the same hash, which a
    dataset cannot hold (a version is its bytes): say so rather than answer "unchanged"."""
    if sep is None or found.format == "parquet":
        return
    recorded = separator_of(found.format) or separator_of(table_format(path))
    if recorded != sep:
        raise InvalidInput(
            f"{path} is already {found.ref}, read as {found.format}; the same bytes cannot be "
            f"another version read as {fmt}: add them under a new dataset name with that --sep."
        )


def add_version(
    store: Store,
    artifacts: ArtifactStore,
    *,
    name: str,
    path: Path,
    actor: str,
    validate: bool = False,
    root: Path | None = None,
    sep: str | None = None,
) -> AddResult:
    """Snapshot ``path`` as the next version of ``name``.

    ``sep`` is a CSV's separator (``io.WHITESPACE`` for runs of spaces), sniffed when ``None``;
    the one used is recorded in the version's format so every re-read splits values the same way.
    Raises ``InvalidInput`` for a file that is not a readable table, ``ValidationFailed`` (with the
    report in ``details``) when ``validate`` is set and the data breaks the current schema.
    """
    path = Path(path).expanduser()
    add = NUMBERED.replace("{command}", "`mloop data add`")
    check_name(name, what="Dataset name", fix=add + f": `mloop data add {{name}} {path}`")
    fmt = table_format(path, sep)
    digest, found, has_dataset = _known(store, name, path)
    if found is not None:
        _refuse_another_reading(path, found, sep, fmt)
        return AddResult(found, created=False)

    must_validate = validate and has_dataset
    current = current_schema(store, name) if has_dataset else None
    separator = separator_of(fmt)
    snapshot = (
        None if must_validate or fmt == "parquet" else snapshot_csv(path, artifacts, sep=separator)
    )
    warning = None
    if snapshot is not None:
        schema, profile, shape, blob, empty_rows = snapshot
        digest = digest or blob.hash  # what was parsed is what was stored: the same read
    else:
        # The whole-file reader reads the file apart from the copy: both must be these bytes.
        digest = digest or hash_chunks(path)
        empty = EmptyRows()
        table = read_arrow(path, sep=separator, empty=empty)
        if current is not None:
            table = in_known_formats(table, current.date_formats())
        empty_rows = empty.count
        warning = one_column_warning(path, table)
        schema, profile = infer_and_profile(table)
        shape = table.shape
    warning = warning or header_warning(path, [column.name for column in schema.columns])
    if current is not None and not must_validate:
        warning = warning or _drift_from_schema(current, schema, name, path)
    report = None
    if must_validate:
        report = _numbered_in_file(_validator(store, name, root).validate_table(table), empty)
        if not report.ok:
            raise ValidationFailed(
                f"{path} breaks {plural(len(report.violations), 'rule')} of {name}'s schema; no version was created "
                f"(`mloop data validate {name} {path}` lists them).",
                details=report,
            )
    added = None
    if current is not None:
        known = {c.name for c in current.columns}
        added = new_columns_note(name, [c.name for c in schema.columns if c.name not in known])
    if snapshot is None:
        blob = artifacts.put_file(path)
    if blob.hash != digest:
        raise InvalidInput(
            f"{path} changed while it was being added; add it again once it is no longer being written."
        )
    return AddResult(
        _record(store, name, path, fmt, blob.size, digest, shape, schema, profile.to_json(), actor),
        True,
        report,
        () if warning is None else (warning,),
        tuple(filter(None, [empty_rows_note(path, empty_rows), added])),
    )


def new_columns_note(name: str, columns: Sequence[str]) -> str | None:
    """A column the file adds is not a violation (``data add`` takes it as it is, without a
    warning), but no rule looked at it: said once, so "no violations" is not read as "checked"."""
    if not columns:
        return None
    it = "it" if len(columns) == 1 else "them"
    return (
        f"{plural(len(columns), 'column')} not in {name}'s schema, so no rule checked "
        f"{it}: {shortlist([repr(c) for c in columns])} (a new column is not a violation; to give "
        f"{it} rules, add {it} to `mloop data schema {name} --export FILE` and --import FILE)."
    )


# Types one file may infer and the next not, with the same data: neither breaks the rules.
_KIN = {"integer": "number", "float": "number", "categorical": "text", "string": "text"}


def _drift_from_schema(current: Schema, inferred: Schema, name: str, path: Path) -> str | None:
    """A sentence when a new version lacks a required column of the dataset's schema or gives
    one another type (a number column now text): added without ``--validate``, it is recorded
    as it is, and training on it or scoring against the schema fails later, far from the cause."""
    found = {c.name: c.type for c in inferred.columns}
    gone = [c.name for c in current.columns if c.required and c.name not in found]
    retyped = [
        f"{c.name!r} is {found[c.name]} (was {c.type})"
        for c in current.columns
        if c.name in found and _KIN.get(found[c.name], found[c.name]) != _KIN.get(c.type, c.type)
    ]
    if not gone and not retyped:
        return None
    parts = ([f"no column {shortlist([repr(n) for n in gone])}"] if gone else []) + retyped
    return (
        f"{path} differs from {name}'s schema ({'; '.join(parts[:3])}"
        f"{'; …' if len(parts) > 3 else ''}); added anyway: `mloop data validate {name} {path}` "
        "lists what breaks, and --validate refuses such a version."
    )


def _record(
    store: Store,
    name: str,
    path: Path,
    fmt: str,
    size: int,
    digest: str,
    shape: tuple[int, int],
    schema: Schema,
    profile: dict[str, Any],
    actor: str,
) -> DatasetVersion:
    now = dt.datetime.now(dt.UTC)
    with store.transaction() as conn:
        dataset_id = _dataset_id(conn, name)
        created_dataset = dataset_id is None
        if dataset_id is None:
            dataset_id = new_id()
            conn.execute(t.datasets.insert().values(id=dataset_id, name=name, created_at=now))
        else:
            lock_parent(conn, t.datasets, dataset_id)
        found = _existing(conn, name, digest)
        if found is not None:  # another process added the same bytes meanwhile
            return found
        number = next_number(
            conn, t.dataset_versions.c.version, t.dataset_versions.c.dataset_id == dataset_id
        )
        parent_id = conn.execute(
            sa.select(t.dataset_versions.c.id).where(
                t.dataset_versions.c.dataset_id == dataset_id,
                t.dataset_versions.c.version == number - 1,
            )
        ).scalar()
        version_id = new_id()
        conn.execute(
            t.dataset_versions.insert().values(
                id=version_id,
                dataset_id=dataset_id,
                version=number,
                content_hash=digest,
                format=fmt,
                source_path=readable(str(path.resolve())),
                size_bytes=size,
                row_count=shape[0],
                column_count=shape[1],
                schema=schema.to_json(),
                profile=profile,
                parent_id=parent_id,
                created_at=now,
                created_by=actor,
            )
        )
        if created_dataset:
            conn.execute(
                t.dataset_schemas.insert().values(
                    id=new_id(),
                    dataset_id=dataset_id,
                    revision=1,
                    schema=schema.to_json(),
                    source="inferred",
                    created_at=now,
                    created_by=actor,
                )
            )
        row = conn.execute(
            sa.select(t.dataset_versions).where(t.dataset_versions.c.id == version_id)
        ).one()
        return _to_version(row, name)


def list_datasets(store: Store) -> list[DatasetSummary]:
    with store.read() as conn:
        latest = (
            sa.select(
                t.dataset_versions.c.dataset_id,
                sa.func.max(t.dataset_versions.c.version).label("v"),
                sa.func.count().label("n"),
            )
            .group_by(t.dataset_versions.c.dataset_id)
            .subquery()
        )
        rows = conn.execute(
            sa.select(t.datasets.c.name, latest.c.n, t.dataset_versions)
            .join(latest, latest.c.dataset_id == t.datasets.c.id)
            .join(
                t.dataset_versions,
                sa.and_(
                    t.dataset_versions.c.dataset_id == t.datasets.c.id,
                    t.dataset_versions.c.version == latest.c.v,
                ),
            )
            .order_by(t.datasets.c.name)
        ).all()
    return [
        DatasetSummary(
            r.name, r.n, r.version, r.row_count, r.column_count, r.content_hash, r.created_at
        )
        for r in rows
    ]


def list_versions(store: Store, name: str) -> list[DatasetVersion]:
    with store.read() as conn:
        dataset_id = _dataset_id(
            conn, check_name(name, what="Dataset name", fix="here the name goes alone ({name!r})")
        )
        if dataset_id is None:
            raise NotFound(f"No dataset named {name!r}; {_known_names(conn)}.")
        rows = conn.execute(
            sa.select(t.dataset_versions)
            .where(t.dataset_versions.c.dataset_id == dataset_id)
            .order_by(t.dataset_versions.c.version)
        ).all()
    return [_to_version(r, name) for r in rows]


def load_frame(
    store: Store,
    artifacts: ArtifactStore,
    version: DatasetVersion,
    *,
    empty: EmptyRows | None = None,
) -> pd.DataFrame:
    """The stored snapshot (hash-verified), never the original path, which may have changed.
    The snapshot is the file's bytes as added, so ``empty`` maps the frame's rows back to the
    file's (its empty rows are left out of the frame, as when it was added)."""
    path = artifacts.local_path(version.content_hash)
    return read_table(path, sep=separator_of(version.format), empty=empty)
