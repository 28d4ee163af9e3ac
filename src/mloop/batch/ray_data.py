"""Scoring a Parquet folder through Ray Data: chunks validated and scored on the cluster.

Ray Data reads the files (in the order given, ``preserve_order``) and runs ``score_chunk`` (the
very function the local path runs) on batches of ``--chunk-rows`` rows in parallel, with the
hash-verified scorer shipped to the workers once. Each batch comes back as one row carrying its
output rows and rejects as Arrow IPC, and the command writes them in input order through the
same writers, so outputs, reject row numbers, counts and the job record are those of the local
path: only where the scoring ran differs. On a remote cluster the workers must be able to read
the folder's path (a shared file system) and have mloop installed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mloop.batch.files import ChunkResult, score_chunk
from mloop.batch.scorer import ModelFailures
from mloop.data.io import _flat_columns

if TYPE_CHECKING:
    from mloop.batch.outputs import InputColumns
    from mloop.batch.scorer import Scorer
    from mloop.data.chunks import Chunks


def _ipc(table: pa.Table | None) -> bytes | None:
    if table is None:
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _table(data: bytes | None) -> pa.Table | None:
    if data is None:
        return None
    return pa.ipc.open_stream(pa.BufferReader(data)).read_all()


def _score_batch(
    batch: pa.Table, scorer: Scorer, columns: InputColumns, schema: pa.Schema, where: str
) -> pa.Table:
    """On a Ray worker: the batch as the local reader gives it (its columns, flattened types),
    scored, and packed into one row."""
    chunk = _flat_columns(Path(where), batch.select(schema.names)).cast(schema)
    failure: str | None = None
    try:
        result = score_chunk(scorer, columns, chunk, text_input=False)
    except ModelFailures as exc:
        # handed back in its place rather than raised: only the command, reading the batches
        # in order, knows which row of the folder the batch's row is
        failure = json.dumps({"ref": exc.ref, "row": exc.row, "cause": exc.described})
        result = ChunkResult(None, None, 0, 0, Counter())
    return pa.table(
        {
            "read": pa.array([result.read], pa.int64()),
            "scored": pa.array([result.scored], pa.int64()),
            "rows": pa.array([_ipc(result.rows)], pa.binary()),
            "rejects": pa.array([_ipc(result.rejects)], pa.binary()),
            "warnings": pa.array([json.dumps(sorted(result.warnings.items()))], pa.string()),
            "failure": pa.array([failure], pa.string()),
        }
    )


def _unpack(row: dict[str, Any]) -> ChunkResult:
    if row["failure"] is not None:
        failure = json.loads(row["failure"])
        raise ModelFailures(failure["ref"], failure["row"], failure["cause"])
    warnings: Counter[tuple[str, str]] = Counter(
        {(column, rule): count for (column, rule), count in json.loads(row["warnings"])}
    )
    return ChunkResult(
        _table(row["rows"]), _table(row["rejects"]), row["read"], row["scored"], warnings
    )


def score_with_ray_data(
    scorer: Scorer, columns: InputColumns, files: list[Path], chunks: Chunks, *, rows: int
) -> Iterator[ChunkResult]:
    """Each batch of ``rows`` rows' result, in input order, scored by Ray Data on the
    connected cluster."""
    from mloop.executors.ray import import_ray, quiet_ray_data

    ray = import_ray()
    from ray.data import DataContext

    quiet_ray_data()
    DataContext.get_current().execution_options.preserve_order = True  # row N stays row N
    dataset = ray.data.read_parquet([str(path) for path in files], file_extensions=None)
    scored = dataset.map_batches(
        _score_batch,
        fn_args=(scorer, columns, chunks.schema, str(chunks.path)),
        batch_format="pyarrow",
        batch_size=rows,
        zero_copy_batch=True,
    )
    for packed in scored.iter_batches(batch_format="pyarrow", batch_size=None):
        for row in packed.to_pylist():
            yield _unpack(row)
