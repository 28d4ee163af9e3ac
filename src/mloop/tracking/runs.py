"""Runs: one execution of training or evaluation code, with everything needed to explain it.

The tracking service. Plain functions over a ``Store`` (and an ``ArtifactStore`` for artifacts);
each change is one transaction. Reads live in ``queries.py`` and are re-exported here, so callers
import everything about runs from this one module.

- Parameters keep their JSON type: 0.1, "0.1" and 1 vs 1.0 vs true are different values. A run's
  parameters are immutable, as in MLflow: logging a key again with the same value is a no-op, with a
  different one an ``InvalidInput``.
- Metrics are time series of (key, step, timestamp in ms, value); NaN and infinities are accepted.
  Training loops log them through ``writer.MetricWriter``; ``log_metrics_rows`` is the bulk path.
- Tags are strings and may be overwritten.
- Artifacts are logical POSIX names ("model", "plots/roc.png") over content-addressed blobs. A name
  is only a key in ``run_artifacts``, never joined onto a folder, so there is nothing to traverse.
  Logging a name again points it at the new blob.
- Inputs link a run to the dataset versions it read: the first edge of every model's lineage.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from mloop.artifacts import ArtifactStore
from mloop.errors import InvalidInput, NotFound
from mloop.ids import new_id
from mloop.store import Store
from mloop.store import tables as t
from mloop.tracking.queries import (
    compare_runs,
    get_run,
    list_runs,
    metric_history,
    resolve_run_id,
)
from mloop.tracking.records import (
    END_STATUSES,
    MAX_ARTIFACT_NAME,
    MAX_NAME,
    MAX_SHORT,
    ArtifactRecord,
    Comparison,
    ComparisonRow,
    MetricPoint,
    Run,
    RunInfo,
    RunInput,
    RunSummary,
    Status,
    check_key,
    encode_metric,
    metric_number,
    metric_step,
)

MAX_ERROR_CHARS = 20_000
METRIC_COLUMNS = ("run_id", "key", "step", "timestamp_ms", "value")
_SQLITE_METRIC_INSERT = 'INSERT INTO metrics (run_id, "key", step, timestamp_ms, value) VALUES '
# Rows per INSERT on SQLite, at most: one statement of many rows costs about half the CPU of as
# many one-row statements (10,000 points: ~15 ms against ~33 ms), and the driver lets other
# threads run (a training loop logging the next points) for the whole statement, not per row.
_SQLITE_ROWS_PER_INSERT = 1000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite ≥ 3.24 and PostgreSQL both do)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _require_run(conn: sa.Connection, run_id: str) -> None:
    if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
        raise NotFound(f"No run {run_id!r}; `mloop runs ls` lists them.")


def _experiment_id(conn: sa.Connection, name: str) -> str:
    # ON CONFLICT DO NOTHING: two processes may create the same experiment at once (PostgreSQL).
    conn.execute(
        _insert(conn, t.experiments)
        .values(id=new_id(), name=name, created_at=_now())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return str(
        conn.execute(sa.select(t.experiments.c.id).where(t.experiments.c.name == name)).scalar_one()
    )


def create_run(
    store: Store,
    *,
    experiment: str,
    user: str,
    environment: dict[str, Any],
    name: str | None = None,
    parent_run_id: str | None = None,
) -> RunInfo:
    """Start a RUNNING run in ``experiment`` (created on first use), a child of
    ``parent_run_id`` when given (a sweep's trial).

    Raises ``InvalidInput`` for an empty or over-long experiment or run name.
    """
    check_key(experiment, "Experiment")
    if name is not None and (not name.strip() or len(name) > MAX_NAME):
        raise InvalidInput(
            f"Run name {name[:60]!r} must be a non-empty string of at most {MAX_NAME} characters."
        )
    run_id = new_id()
    started = _now()
    with store.transaction() as conn:
        conn.execute(
            t.runs.insert().values(
                id=run_id,
                experiment_id=_experiment_id(conn, experiment),
                name=name,
                status="RUNNING",
                started_at=started,
                user=user,
                environment=environment,
                parent_run_id=parent_run_id,
            )
        )
    return RunInfo(
        run_id,
        experiment,
        name,
        "RUNNING",
        started,
        None,
        user,
        None,
        environment,
        parent_run_id=parent_run_id,
    )


def merge_environment(store: Store, run_id: str, fields: Mapping[str, Any]) -> None:
    """Add ``fields`` to a run's environment document: what was captured after it started."""
    with store.transaction() as conn:
        current = conn.execute(
            sa.select(t.runs.c.environment).where(t.runs.c.id == run_id)
        ).scalar_one()
        merged = {**(current or {}), **fields}
        conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(environment=merged))


def _plain(value: Any) -> Any:
    """numpy (and similar) values as Python ones, inside lists and dicts too; else unchanged.

    A float32 keeps its shortest decimal form: np.float32(0.1) is 0.1, not 0.10000000149011612.
    """
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        try:
            plain = value.tolist()  # numpy scalars and arrays (whole: str() elides big ones)
        except (TypeError, ValueError):
            return value
        if isinstance(plain, float) and getattr(getattr(value, "dtype", None), "itemsize", 8) < 8:
            return float(str(value))
        return plain
    return value


def _jsonable(value: Any) -> Any:
    """A param value as JSON: numpy values become Python ones, tuples lists; else its ``str``."""
    value = _plain(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value


def _same_param(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# A parameter is a setting to read and compare, not a place for data: a 1M-element array would
# make every `runs ls` and `compare` carry it (MLflow stops at 6,000 characters).
MAX_PARAM_CHARS = 65_536


def log_params(store: Store, run_id: str, params: Mapping[str, Any]) -> None:
    """Record parameters with their JSON type.

    Raises ``InvalidInput`` for a bad key or when a key was already logged with a different value,
    ``NotFound`` for an unknown run.
    """
    values = {check_key(k, "Parameter"): _jsonable(v) for k, v in params.items()}
    if not values:
        return
    for key, value in values.items():
        size = len(json.dumps(value, ensure_ascii=False))
        if size > MAX_PARAM_CHARS:
            raise InvalidInput(
                f"Parameter {key!r} is {size:,} characters as JSON (at most {MAX_PARAM_CHARS:,}); "
                "log data this large with run.log_artifact and put its name in the parameter."
            )
    with store.transaction() as conn:
        _require_run(conn, run_id)
        existing = dict(
            conn.execute(
                sa.select(t.params.c.key, t.params.c.value).where(
                    t.params.c.run_id == run_id, t.params.c.key.in_(list(values))
                )
            ).all()
        )
        for key, value in values.items():
            if key in existing and not _same_param(existing[key], value):
                raise InvalidInput(
                    f"Parameter {key!r} of run {run_id} is already {existing[key]!r} and cannot "
                    f"change to {value!r}; start a new run for a new value."
                )
        fresh = [
            {"run_id": run_id, "key": k, "value": v} for k, v in values.items() if k not in existing
        ]
        if fresh:
            conn.execute(t.params.insert(), fresh)


def set_tags(store: Store, run_id: str, tags: Mapping[str, Any]) -> None:
    """Set string tags, overwriting earlier values; raises ``InvalidInput``/``NotFound``."""
    rows = [
        {"run_id": run_id, "key": check_key(k, "Tag"), "value": str(v)} for k, v in tags.items()
    ]
    if not rows:
        return
    with store.transaction() as conn:
        _require_run(conn, run_id)
        stmt = _insert(conn, t.tags)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
            ),
            rows,
        )


def log_metrics_rows(store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert metric points in one transaction (one ``executemany``).

    Each row has ``run_id``, ``key``, ``step``, ``timestamp_ms`` and ``value``. Raises
    ``InvalidInput`` for a bad key or a value that is not a number.
    """
    if not rows:
        return
    dialect = store.dialect
    prepared = []
    checked: set[str] = set()
    for row in rows:
        key = row["key"]
        if key not in checked:
            checked.add(check_key(key, "Metric"))
        prepared.append(
            (
                row["run_id"],
                key,
                metric_step(key, row.get("step", 0)),
                int(row["timestamp_ms"]),
                encode_metric(metric_number(key, row["value"]), dialect),
            )
        )
    write_metric_tuples(store, prepared)


def write_metric_tuples(store: Store, rows: Sequence[tuple[Any, ...]]) -> None:
    """The writer's fast path: rows already ``(run_id, key, step, timestamp_ms, value)``, checked
    and encoded (see ``records.encode_metric``)."""
    write_metric_values(store, [value for row in rows for value in row])


def write_metric_values(store: Store, flat: list[Any]) -> None:
    """``write_metric_tuples`` of rows laid end to end: five values a row, in that order (the
    batching writer keeps them so, see ``writer``)."""
    if not flat:
        return
    with store.transaction() as conn:
        if conn.dialect.name == "sqlite":
            # The driver's executemany directly: SQLAlchemy's Float would turn the 'NaN' text back
            # into a float (which SQLite stores as NULL), and per-row type processing is skipped.
            limit = conn.connection.driver_connection.getlimit(  # type: ignore[union-attr]
                sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
            )
            per = 5 * max(1, min(_SQLITE_ROWS_PER_INSERT, limit // 5))  # 999 before SQLite 3.32
            whole = len(flat) - len(flat) % per
            if whole:
                conn.exec_driver_sql(
                    _sqlite_metric_insert(per // 5),
                    [tuple(flat[i : i + per]) for i in range(0, whole, per)],
                )
            if whole < len(flat):
                rest = tuple(flat[whole:])
                conn.exec_driver_sql(_sqlite_metric_insert(len(rest) // 5), rest)
        else:
            conn.execute(
                t.metrics.insert(),
                [
                    dict(zip(METRIC_COLUMNS, flat[i : i + 5], strict=True))
                    for i in range(0, len(flat), 5)
                ],
            )


@functools.lru_cache(maxsize=16)
def _sqlite_metric_insert(rows: int) -> str:
    return _SQLITE_METRIC_INSERT + ", ".join(["(?, ?, ?, ?, ?)"] * rows)


def _logical_name(name: str) -> str:
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    if not parts or ".." in parts:
        raise InvalidInput(
            f"Artifact name {name!r} must be a relative name such as 'model' or 'plots/roc.png', "
            "without '..'."
        )
    logical = "/".join(parts)
    if len(logical) > MAX_ARTIFACT_NAME:
        raise InvalidInput(
            f"Artifact name {logical[:60]!r}… is longer than {MAX_ARTIFACT_NAME} characters."
        )
    return logical


def _check_short(value: str, what: str) -> str:
    if not value or len(value) > MAX_SHORT:
        raise InvalidInput(
            f"{what} {value!r} must be a non-empty string of at most {MAX_SHORT} characters."
        )
    return value


def _record_artifacts(store: Store, run_id: str, records: Iterable[ArtifactRecord]) -> None:
    rows = [
        {
            "run_id": run_id,
            "path": r.path,
            "blob_hash": r.blob_hash,
            "size_bytes": r.size_bytes,
            "kind": r.kind,
            "created_at": _now(),
        }
        for r in records
    ]
    with store.transaction() as conn:
        _require_run(conn, run_id)
        if not rows:
            return
        stmt = _insert(conn, t.run_artifacts)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["run_id", "path"],
                set_={
                    c: stmt.excluded[c] for c in ("blob_hash", "size_bytes", "kind", "created_at")
                },
            ),
            rows,
        )


def _files_under(path: Path, ancestors: frozenset[str] = frozenset()) -> Iterator[Path]:
    """``path`` itself if it is not a folder, else every file below it. Symbolic links are
    followed, to files and to folders, except a link back to a folder being walked (a loop)."""
    if not path.is_dir():
        yield path
        return
    real = os.path.realpath(path)
    if real in ancestors:
        return
    for entry in os.scandir(path):
        yield from _files_under(Path(entry.path), ancestors | {real})


def log_artifact(
    store: Store,
    artifacts: ArtifactStore,
    run_id: str,
    path: Path,
    name: str | None = None,
    kind: str = "file",
) -> list[ArtifactRecord]:
    """Store a file, or every file under a folder, as artifacts of the run.

    A file is named ``name`` (default: its file name); a folder's files are named
    ``name/relative/path`` (default ``name``: the folder's name), symbolic links followed (a
    link back to an enclosing folder is skipped), nothing stored for an empty folder. Raises
    ``InvalidInput`` for a missing path, a broken link in the folder or a bad name, ``NotFound``
    for an unknown run.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"Cannot log artifact {path}: no such file or folder.")
    base = _logical_name(name or path.resolve().name)
    _check_short(kind, "Artifact kind")
    files = sorted(_files_under(path), key=lambda p: p.relative_to(path).as_posix())
    broken = [f for f in files if not f.is_file()]
    if broken:
        raise InvalidInput(
            f"Cannot log artifact {path}: {broken[0]} is a broken symbolic link or not a regular "
            "file; remove it or log the files you mean one by one."
        )
    records = []
    for file in files:
        logical = base if file == path else _logical_name(f"{base}/{file.relative_to(path)}")
        blob = artifacts.put_file(file)
        records.append(ArtifactRecord(logical, blob.hash, blob.size, kind))
    _record_artifacts(store, run_id, records)
    return records


def log_artifact_bytes(
    store: Store, artifacts: ArtifactStore, run_id: str, name: str, data: bytes, kind: str = "file"
) -> ArtifactRecord:
    """Store ``data`` as the artifact ``name``; raises ``InvalidInput``/``NotFound`` as ``log_artifact``."""
    logical = _logical_name(name)
    _check_short(kind, "Artifact kind")
    blob = artifacts.put_bytes(data)
    record = ArtifactRecord(logical, blob.hash, blob.size, kind)
    _record_artifacts(store, run_id, [record])
    return record


def _dataset_version_id(conn: sa.Connection, ref: str) -> str:
    versions = t.dataset_versions
    found = conn.execute(sa.select(versions.c.id).where(versions.c.id == ref)).scalar()
    if found is None and "@" in ref:
        name, _, number = ref.rpartition("@")
        if number.isdigit():
            found = conn.execute(
                sa.select(versions.c.id)
                .join(t.datasets, t.datasets.c.id == versions.c.dataset_id)
                .where(t.datasets.c.name == name, versions.c.version == int(number))
            ).scalar()
    if found is None:
        raise NotFound(
            f"No dataset version {ref!r}; `mloop data ls` lists datasets and their versions."
        )
    return str(found)


def log_input(store: Store, run_id: str, dataset_version_id: str, role: str = "train") -> str:
    """Record that the run read a dataset version (its id, or ``NAME@N``) in ``role``.

    Idempotent; returns the version id. Raises ``NotFound`` for an unknown run or version.
    """
    _check_short(role, "Input role")
    with store.transaction() as conn:
        _require_run(conn, run_id)
        version_id = _dataset_version_id(conn, dataset_version_id)
        conn.execute(
            _insert(conn, t.run_inputs)
            .values(run_id=run_id, dataset_version_id=version_id, role=role)
            .on_conflict_do_nothing()
        )
    return version_id


def finish_run(store: Store, run_id: str, status: Status, error: str | None = None) -> None:
    """End the run as FINISHED, FAILED or KILLED, with the error text of a failure.

    Raises ``InvalidInput`` for another status and ``NotFound`` for an unknown run.
    """
    if status not in END_STATUSES:
        raise InvalidInput(
            f"A run ends as one of {', '.join(sorted(END_STATUSES))}, not {status!r}."
        )
    if error is not None and len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS // 2] + "\n…\n" + error[-MAX_ERROR_CHARS // 2 :]
    with store.transaction() as conn:
        done = conn.execute(
            t.runs.update()
            .where(t.runs.c.id == run_id)
            .values(status=status, ended_at=_now(), error=error)
        )
        if done.rowcount == 0:
            raise NotFound(f"No run {run_id!r}; `mloop runs ls` lists them.")


__all__ = [
    "ArtifactRecord",
    "Comparison",
    "ComparisonRow",
    "MetricPoint",
    "Run",
    "RunInfo",
    "RunInput",
    "RunSummary",
    "Status",
    "check_key",
    "compare_runs",
    "create_run",
    "finish_run",
    "get_run",
    "list_runs",
    "log_artifact",
    "log_artifact_bytes",
    "log_input",
    "log_metrics_rows",
    "log_params",
    "metric_history",
    "resolve_run_id",
    "set_tags",
    "write_metric_tuples",
    "write_metric_values",
]
