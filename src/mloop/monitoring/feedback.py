"""Feedback: labels that arrive after the predictions, stored beside the log and joined to it.

Layout: ``<log root>/.labels/<endpoint>/<batch>.parquet``, one file per call of
``record_labels`` (the HTTP route and ``mloop feedback`` both call it), written temp → fsync →
rename → fsync folder, so a file is whole or absent. The folder starts with a dot, which no
endpoint name may, so the prediction log's readers and compactor never list it.

A file's rows are ``id`` (a prediction id) or ``key`` (a routing key), ``label`` (canonical text,
see ``labels``), ``seq`` (``<batch>:<row>``, sortable, so the newest label of an id wins at read:
a label sent twice is replaced, never counted twice), ``received_at``, and for an id label
``served_at`` and ``shadow_at``, the log times of the records it labels (below). When more than
``MAX_FILES`` files pile up, they are merged into one holding only each id's and key's newest
label, under a lock file. A merge writes an intent (``<output>.merge``, naming its inputs) before
publishing its output, and ``label_files`` skips the inputs of a published merge, so readers
listing while the inputs are deleted never miss a file, and a merge killed half-way is finished
by the next one.

How labels join (``connect_labelled``): a prediction's label is the newest label of its
``prediction_id``; failing that, the newest label of its ``routing_key``. Clients reuse request
ids (a retry of a timed-out request, a constant ``X-Request-ID``), so one id may name several
records: an id label counts once, against the most recent answered prediction with that id when
the label was recorded (a retry's answer is the one the client got), and once for the shadow,
against the id's most recent shadow record; the id's other records get no label, not even their
key's. Pinning when the label is recorded keeps a later request reusing the id from taking it,
and reading a window needs no scan of the rest of the log. Labels stored before ``served_at``
existed label every record of their id. A key label applies to every prediction logged with
that key (a customer's outcome labels each prediction made for that customer), shadow and
canary rows included, since they share the request's ids.

Ids (or keys) that match no logged prediction are counted and returned (a few shown) and not
stored: send them again once their prediction is in the log. The match is against the whole log
of the endpoint, any time and any role.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mloop.errors import InvalidInput
from mloop.ids import new_id
from mloop.monitoring.labels import Kind, canonical_labels, label_kind, new_classes
from mloop.predlog.compaction import try_lock
from mloop.predlog.paths import endpoint_folder
from mloop.predlog.reader import connect, log_folder, retried
from mloop.predlog.segments import MERGE_SUFFIX, fsync_dir, read_intent, write_intent
from mloop.predlog.timespec import as_utc
from mloop.signature import Output

if TYPE_CHECKING:
    from mloop.monitoring.model_outputs import OutputOf

LABELS_DIR = ".labels"
MAX_FILES = 32
STALE_TMP_S = 3600.0
SHOWN_UNMATCHED = 10
ATTEMPTS = 4
RETRY_PAUSE_S = 0.01  # a listing taken just before a merge published: list again
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("key", pa.string()),
        ("label", pa.string()),
        ("seq", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("served_at", pa.timestamp("us", tz="UTC")),
        ("shadow_at", pa.timestamp("us", tz="UTC")),
    ]
)
NO_LABELS = (
    "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS key, NULL::VARCHAR AS label, "
    "NULL::VARCHAR AS seq, NULL::TIMESTAMPTZ AS received_at, NULL::TIMESTAMPTZ AS served_at, "
    "NULL::TIMESTAMPTZ AS shadow_at WHERE false"
)


@dataclass(frozen=True)
class FeedbackResult:
    """What one batch of labels did: how many matched a logged prediction, replaced an earlier
    label, or matched nothing (not stored; ``unmatched_ids`` shows the first few).

    ``new_classes``: stored labels that are none of the classes of the models behind the
    endpoint (an outcome no model knows yet), once each; they count as wrong predictions.
    """

    endpoint: str
    received: int
    matched: int
    unmatched: int
    replaced: int
    stored: int
    unmatched_ids: list[str] = field(default_factory=list)
    new_classes: list[str | int | float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "received": self.received,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "replaced": self.replaced,
            "stored": self.stored,
            "unmatched_ids": list(self.unmatched_ids),
            "new_classes": list(self.new_classes),
        }


def labels_folder(log_root: str | os.PathLike[str], endpoint: str) -> Path:
    return endpoint_folder(Path(log_root) / LABELS_DIR, endpoint)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _intents(folder: Path, names: list[str]) -> list[tuple[Path, str, list[str]]]:
    """The merges recorded in the folder: (intent file, output, inputs)."""
    found = []
    for name in names:
        if name.endswith(MERGE_SUFFIX):
            intent = read_intent(folder / name)
            if intent is not None:
                found.append((folder / name, intent[0], intent[1]))
    return found


def label_files(folder: Path) -> list[Path]:
    """The label files to read: every ``.parquet`` but the inputs of a merge whose output is
    published (they are being deleted, and their labels are in the output)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    replaced = {
        name for _, output, inputs in _intents(folder, names) if output in names for name in inputs
    }
    return sorted(folder / n for n in names if n.endswith(".parquet") and n not in replaced)


def _labels_source(files: list[Path]) -> str:
    """Every column of ``SCHEMA``, null where a file predates it."""
    if not files:
        return f"({NO_LABELS})"
    listed = ", ".join(_sql_text(str(f)) for f in files)
    return (
        f"(SELECT * FROM read_parquet([{listed}], union_by_name = true) "
        f"UNION ALL BY NAME {NO_LABELS})"
    )


def add_label_views(con: duckdb.DuckDBPyConnection, log_root: Path, endpoint: str) -> None:
    """Views ``id_labels(id, label, served_at, shadow_at)`` and ``key_labels(key, label)``: the
    newest label of each."""
    files = label_files(labels_folder(log_root, endpoint))
    source = _labels_source(files)
    if len(files) == 1:  # a file holds one label per id and key: no newest to pick
        con.execute(
            "CREATE OR REPLACE VIEW id_labels AS SELECT id, label, served_at, shadow_at "
            f"FROM {source} WHERE id IS NOT NULL"
        )
        con.execute(
            f"CREATE OR REPLACE VIEW key_labels AS SELECT key, label FROM {source} "
            "WHERE key IS NOT NULL"
        )
        return
    con.execute(
        "CREATE OR REPLACE VIEW id_labels AS SELECT id, arg_max(label, seq) AS label, "
        "arg_max(served_at, seq) AS served_at, arg_max(shadow_at, seq) AS shadow_at "
        f"FROM {source} WHERE id IS NOT NULL GROUP BY id"
    )
    con.execute(
        f"CREATE OR REPLACE VIEW key_labels AS SELECT key, arg_max(label, seq) AS label "
        f"FROM {source} WHERE key IS NOT NULL GROUP BY key"
    )


def _prediction_type(con: duckdb.DuckDBPyConnection) -> str | None:
    """The SQL type of the log's ``prediction`` column; None when no segment has one (a log of
    failed requests only: a column that never held a value is not stored)."""
    rows = con.execute("DESCRIBE log").fetchall()
    kinds = {str(r[0]): str(r[1]) for r in rows}
    kind = kinds.get("prediction")
    return "VARCHAR" if kind in ('"NULL"', "NULL") else kind


def connect_labelled(
    log_root: str | os.PathLike[str],
    endpoint: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with views ``log`` (the endpoint's records in files overlapping the
    window), ``id_labels``, ``key_labels`` and ``labelled``: the records with
    ``since <= timestamp < until`` and a ``label`` column, cast to the type of ``prediction``
    (null where no label came yet, and on the records of a reused id other than the one its
    label was pinned to: see the module docstring). Raises ``NotFound`` when the endpoint never
    logged.
    """
    root = Path(log_root)
    con = connect(root, endpoint, since=since, until=until)
    try:
        add_label_views(con, root, endpoint)
        kind = _prediction_type(con)
        clauses = []
        if since is not None:
            clauses.append(f"l.timestamp >= TIMESTAMPTZ '{as_utc(since).isoformat()}'")
        if until is not None:
            clauses.append(f"l.timestamp < TIMESTAMPTZ '{as_utc(until).isoformat()}'")
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        con.execute(
            "CREATE VIEW labelled AS SELECT l.*, "
            + ("NULL::VARCHAR AS prediction, " if kind is None else "")
            + "TRY_CAST(CASE WHEN i.id IS NULL THEN k.label "
            "WHEN i.served_at IS NULL OR l.timestamp = "
            "CASE WHEN l.role = 'shadow' THEN i.shadow_at ELSE i.served_at END THEN i.label END "
            f"AS {kind or 'VARCHAR'}) AS label "
            "FROM log l LEFT JOIN id_labels i ON i.id = l.prediction_id "
            f"LEFT JOIN key_labels k ON k.key = l.routing_key{where}"
        )
    except BaseException:
        con.close()
        raise
    return con


def query_labelled(
    log_root: str | os.PathLike[str],
    endpoint: str,
    build: Callable[[list[str]], str],
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> pa.Table:
    """Run ``build(columns of labelled)``'s SQL over the window's ``labelled`` view (see
    ``connect_labelled``), retried when a compaction moves files between listing and reading."""

    def query() -> pa.Table:
        con = connect_labelled(log_root, endpoint, since=since, until=until)
        try:
            columns = [str(r[0]) for r in con.execute("DESCRIBE labelled").fetchall()]
            table: pa.Table = con.sql(build(columns)).to_arrow_table()
            return table
        finally:
            con.close()

    return retried(query, attempts=ATTEMPTS, pause_s=RETRY_PAUSE_S)


def read_labelled(
    log_root: str | os.PathLike[str],
    endpoint: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    columns: str = "*",
) -> pa.Table:
    """The window's records with their ``label`` (see ``connect_labelled``); ``columns`` is the
    SQL select list."""
    return query_labelled(
        log_root, endpoint, lambda _: f"SELECT {columns} FROM labelled", since=since, until=until
    )


def record_labels(
    log_root: str | os.PathLike[str],
    endpoint: str,
    labels: pa.Table,
    *,
    output: Output | None = None,
    served: Sequence[Output] = (),
    output_of: OutputOf | None = None,
    where: str = "",
    row_name: Callable[[int], str] | None = None,
    source_names: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> FeedbackResult:
    """Store ``labels`` (columns ``label`` and ``id`` and/or ``key``, one of them per row) for
    ``endpoint``'s predictions; returns the counts.

    ``output`` is the primary model's signature output: labels are converted to its type (see
    ``labels``). The known classes are those of ``output``, of ``served`` (the other models
    the endpoint serves: canary, shadow, staged) and, through ``output_of``, of every model
    version the log names for the labelled predictions; so during a rollout a class only the
    candidate knows is known. A label that is none of them is stored and listed in
    ``new_classes``; one that is a known class spelt otherwise is refused. ``where`` names the
    labels' source in messages; ``row_name`` names the label at a 0-based position as its source
    numbers it (a file's row), by default as an index into the body's list (``labels[3]``);
    ``source_names`` what the source calls ``id`` and ``key`` (a file's column).
    Raises ``InvalidInput`` for a row with neither or both of id
    and key, an empty label, one the model could not predict or a misspelt class, and
    ``NotFound`` when the endpoint never logged a prediction; then nothing is stored.
    """
    root = Path(log_root)
    log_folder(root, endpoint)  # NotFound before anything else
    ids = _text_column(labels, "id")
    keys = _text_column(labels, "key")
    has_id, has_key = pc.is_valid(ids), pc.is_valid(keys)
    neither = pc.invert(pc.or_(has_id, has_key))
    name = row_name or (lambda index: f"labels[{index}]")
    if pc.any(neither).as_py():
        row = name(pc.index(neither, True).as_py())
        raise InvalidInput(_no_id(row, labels.column_names, source_names or {}))
    both = pc.and_(has_id, has_key)
    if pc.any(both).as_py():
        row = name(pc.index(both, True).as_py())
        raise InvalidInput(f"{row} has both an id and a key; give one of them.")
    values = labels.column("label").combine_chunks()
    kind = label_kind(output if output is not None else next(iter(served), None))
    text = canonical_labels(values, kind, where=where)
    batch = pa.table({"id": ids, "key": keys, "label": text, "row": pa.array(range(len(text)))})
    counted = retried(
        lambda: _match(root, endpoint, batch), attempts=ATTEMPTS, pause_s=RETRY_PAUSE_S
    )
    matched_rows, unmatched_ids, replaced, matched, versions = counted
    outputs = [output, *served]
    if output_of is not None:
        outputs += [output_of(model, version) for model, version in versions]
    classes = [c for o in outputs if o is not None and o.type == "class" for c in o.classes or []]
    fresh = new_classes(text, values, classes, kind, where=where)
    if fresh:  # a new class may have been labelled before: its spelling is known too
        earlier = _stored_labels(labels_folder(root, endpoint))
        fresh = new_classes(text, values, classes, kind, where=where, earlier=earlier)
        kept = set(matched_rows.column("label").to_pylist())
        fresh = [t for t in fresh if t in kept]
    stored = 0
    if matched_rows.num_rows:
        stored = _write(labels_folder(root, endpoint), matched_rows, now=now)
        compact(labels_folder(root, endpoint))
    received = batch.num_rows
    return FeedbackResult(
        endpoint=endpoint,
        received=received,
        matched=matched,
        unmatched=received - matched,
        replaced=replaced,
        stored=stored,
        unmatched_ids=unmatched_ids,
        new_classes=[_typed(t, kind) for t in fresh],
    )


def _stored_labels(folder: Path) -> list[str]:
    """The distinct labels stored so far, oldest file first."""

    def distinct() -> list[str]:
        files = label_files(folder)
        if not files:
            return []
        con = duckdb.connect()
        try:
            rows = con.execute(
                f"SELECT label FROM {_labels_source(files)} GROUP BY label ORDER BY min(seq)"
            ).fetchall()
            return [str(r[0]) for r in rows]
        finally:
            con.close()

    return retried(distinct, attempts=ATTEMPTS, pause_s=RETRY_PAUSE_S)


def _typed(text: str, kind: Kind | None) -> str | int | float:
    """A canonical label as the value the model's predictions are (``2``, not ``"2"``)."""
    if kind == "integer":
        return int(text)
    if kind == "float":
        return float(text)
    return text


def _no_id(row: str, columns: list[str], source_names: Mapping[str, str]) -> str:
    """A label with nothing to match it by, said in the terms of what its source gave."""
    given = [kind for kind in ("id", "key") if kind in columns]
    if len(given) != 1:
        return f"{row} has neither a prediction id nor a key; give each label one of them."
    kind = given[0]
    what = "prediction id" if kind == "id" else "routing key"
    column = f" in column {source_names[kind]!r}" if kind in source_names else ""
    return f"{row} has no {what}{column}; give every label its {what}, or leave the row out."


def _text_column(labels: pa.Table, name: str) -> pa.Array:
    if name not in labels.column_names:
        return pa.nulls(labels.num_rows, pa.string())
    column = labels.column(name).combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_floating(column.type):
        whole = pc.equal(pc.floor(column), column)
        if pc.all(whole).as_py():
            column = column.cast(pa.int64())
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _pins_sql(con: duckdb.DuckDBPyConnection) -> str:
    """Per incoming id, the log time of its newest served and newest shadow record, answered
    ones first (a failed retry did not give the client an answer to label)."""
    answered = "status = 200" + (
        "" if _prediction_type(con) is None else " AND prediction IS NOT NULL"
    )

    def newest(side: str) -> str:
        return (
            f"coalesce(max(timestamp) FILTER (WHERE {side} AND {answered}), "
            f"max(timestamp) FILTER (WHERE {side}))"
        )

    served, shadow = newest("role IS DISTINCT FROM 'shadow'"), newest("role = 'shadow'")
    return (
        f"SELECT prediction_id AS id, {served} AS served_at, {shadow} AS shadow_at FROM log "
        "WHERE prediction_id IN (SELECT id FROM incoming WHERE id IS NOT NULL) GROUP BY 1"
    )


def _match(
    root: Path, endpoint: str, batch: pa.Table
) -> tuple[pa.Table, list[str], int, int, list[tuple[str, int]]]:
    """The newest row of each id (or key) the log holds, pinned to the records it labels, the
    first unmatched ids, how many rows replace a label (one stored before, or an earlier row of
    this batch), how many matched, and the model versions that made the matched predictions
    (any role)."""
    con = connect(root, endpoint)
    try:
        add_label_views(con, root, endpoint)
        con.register("incoming", batch)
        con.execute(
            f"CREATE TEMP TABLE flagged AS WITH pins AS ({_pins_sql(con)}) "
            "SELECT b.*, p.served_at, p.shadow_at, "
            # IN over a column holding NULLs is NULL, not false, when the value is absent
            "coalesce(p.id IS NOT NULL "
            "OR b.key IN (SELECT routing_key FROM log WHERE routing_key IS NOT NULL), false) "
            "AS matched "
            "FROM incoming b LEFT JOIN pins p ON p.id = b.id"
        )
        matched = con.sql(  # the last label of an id within the batch is the one kept
            "SELECT id, key, arg_max(label, row) AS label, max(row) AS row, "
            "any_value(served_at) AS served_at, any_value(shadow_at) AS shadow_at FROM flagged "
            "WHERE matched GROUP BY id, key ORDER BY row"
        ).to_arrow_table()
        shown = con.execute(
            f"SELECT coalesce(id, 'key ' || key) FROM flagged WHERE NOT matched "
            f"ORDER BY row LIMIT {SHOWN_UNMATCHED}"
        ).fetchall()
        row = con.execute(
            "SELECT "
            "(SELECT count(*) FROM flagged WHERE matched) - "
            "(SELECT count(DISTINCT coalesce('i' || id, 'k' || key)) FROM flagged WHERE matched) + "
            "(SELECT count(DISTINCT id) FROM flagged WHERE matched AND id IN (SELECT id FROM id_labels)) + "
            "(SELECT count(DISTINCT key) FROM flagged WHERE matched AND key IN (SELECT key FROM key_labels)), "
            "(SELECT count(*) FROM flagged WHERE matched)"
        ).fetchone()
        versions = _versions(con)
    finally:
        con.close()
    return (
        matched,
        [str(r[0]) for r in shown],
        int(row[0]) if row else 0,
        int(row[1]) if row else 0,
        versions,
    )


def _versions(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """The distinct (model, version) of the logged predictions the ``flagged`` labels matched."""
    columns = {str(r[0]) for r in con.execute("DESCRIBE log").fetchall()}
    if not {"model", "version"} <= columns:  # a log of failed requests only
        return []
    rows = con.execute(
        "SELECT DISTINCT model, version FROM log WHERE model IS NOT NULL AND version IS NOT NULL "
        "AND (prediction_id IN (SELECT id FROM flagged WHERE matched AND id IS NOT NULL) "
        "OR routing_key IN (SELECT key FROM flagged WHERE matched AND key IS NOT NULL)) "
        "ORDER BY model, version"
    ).fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


def _publish(folder: Path, table: pa.Table, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "wb") as out:
            pq.write_table(table, out, compression="zstd")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(folder)
    return final


def _write(folder: Path, rows: pa.Table, *, now: dt.datetime | None) -> int:
    batch = new_id()
    count: int = rows.num_rows
    order = pc.cast(rows.column("row"), pa.string())
    seq = pc.binary_join_element_wise(
        pa.array([batch] * count, pa.string()), pc.utf8_lpad(order, 10, "0"), ":"
    )
    stamp = as_utc(now) if now is not None else dt.datetime.now(dt.UTC)
    table = pa.Table.from_arrays(
        [
            rows.column("id"),
            rows.column("key"),
            rows.column("label"),
            seq,
            pa.array([stamp] * count, SCHEMA.field("received_at").type),
            rows.column("served_at").cast(SCHEMA.field("served_at").type),
            rows.column("shadow_at").cast(SCHEMA.field("shadow_at").type),
        ],
        schema=SCHEMA,
    )
    _publish(folder, table, f"{batch}.parquet")
    return count


def _remove_stale_temps(folder: Path) -> None:
    """Temp files a killed writer left (never read: readers list ``*.parquet`` only)."""
    now = time.time()
    for path in folder.glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            if now - path.stat().st_mtime > STALE_TMP_S:
                path.unlink()


def compact(folder: Path, *, max_files: int = MAX_FILES, force: bool = False) -> bool:
    """Merge the folder's label files into one with each id's and key's newest label, when more
    than ``max_files`` piled up (or ``force``); whether it merged. Another process merging at the
    same time makes this a no-op."""
    files = label_files(folder)
    if len(files) < 2 or (len(files) <= max_files and not force):
        return False
    with try_lock(folder / ".compact.lock") as taken:
        if not taken:
            return False
        _remove_stale_temps(folder)
        _finish_merges(folder)  # a merge a crash interrupted
        files = label_files(folder)
        if len(files) < 2:
            return False
        con = duckdb.connect()
        try:
            source = _labels_source(files)
            newest = con.sql(
                f"SELECT id, key, arg_max(label, seq) AS label, max(seq) AS seq, "
                "arg_max(received_at, seq) AS received_at, arg_max(served_at, seq) AS served_at, "
                f"arg_max(shadow_at, seq) AS shadow_at FROM {source} "
                "GROUP BY id, key ORDER BY seq"
            ).to_arrow_table()
        finally:
            con.close()
        newest = newest.cast(SCHEMA)
        output = f"{max(f.stem for f in files)}-m{new_id()}.parquet"
        # The intent names the inputs before the output appears: from then on readers skip the
        # inputs, so deleting them one by one never breaks a listing taken after the publish.
        intent = folder / f"{output}{MERGE_SUFFIX}"
        write_intent(intent, output, [f.name for f in files])
        _publish(folder, newest, output)
        _finish_merges(folder)
    return True


def _finish_merges(folder: Path) -> None:
    """Delete the inputs of published merges, then their intents; forget unpublished ones."""
    names = os.listdir(folder)
    for path, output, inputs in _intents(folder, names):
        if output in names:
            for name in inputs:
                with contextlib.suppress(FileNotFoundError):
                    (folder / name).unlink()
            fsync_dir(folder)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    fsync_dir(folder)


def labels_for(kind: Literal["id", "key"], values: list[str], labels: list[Any]) -> pa.Table:
    """A labels table (the shape ``record_labels`` takes) from parallel lists."""
    from mloop.monitoring.labels import as_array

    return pa.table({kind: pa.array(values, pa.string()), "label": as_array(labels)})
