"""Scoring a file: ``score_file`` streams it through a registered model and records the job.

Memory is bounded by the chunk size, whatever the file's: the reader (data/chunks.py) holds a
few blocks, each chunk is validated, scored and written before the next is read, and both
outputs stream to temporary files that are renamed into place only when every row is done. So
a failure (a damaged block, a full disk, Ctrl-C) leaves no output behind, and a job row says
what happened. Everything that can be checked before reading rows (the model ref, the paths,
the header) is, and fails with nothing written and no job recorded.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mloop.artifacts import ArtifactStore
from mloop.batch.folders import folder_hash, open_folder_chunks, parquet_files
from mloop.batch.jobs import end_job, start_job
from mloop.batch.outputs import InputColumns, default_rejects
from mloop.batch.scorer import (
    PREDICTION,
    REJECT_SCHEMA,
    ModelFailures,
    Scorer,
    reject_table,
    scorer_for,
)
from mloop.batch.writers import TableWriter, check_destination
from mloop.data.chunks import Chunks, open_chunks
from mloop.errors import InvalidInput
from mloop.hashing import display, hash_chunks
from mloop.store import Store

if TYPE_CHECKING:
    from mloop.executors import Executor
    from mloop.signature import Signature

KIND = "predict"
DEFAULT_CHUNK_ROWS = 100_000
MAX_CHUNK_ROWS = 10_000_000


@dataclass(frozen=True)
class Progress:
    rows_read: int
    rows_scored: int
    rows_rejected: int
    total_rows: int | None  # known for Parquet
    fraction: float | None  # of the file read, when known


@dataclass(frozen=True)
class BatchResult:
    job_id: str
    model: str  # NAME@N
    input: Path
    output: Path
    rejects: Path | None  # written only when there are rejects, or when asked for by name
    rows_read: int
    rows_scored: int
    rows_rejected: int
    warnings: dict[str, int]  # "column:rule" -> values flagged but scored (outliers)
    empty_rows: int  # a CSV's rows with no value, left out (not counted in rows_read)
    input_hash: str
    output_hash: str
    rejects_hash: str | None
    seconds: float
    # Sentences for the person who ran the job, said once (not per rejected row): how to get
    # rows a rule rejected scored when the rule, not the row, is what should change.
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.rows_rejected == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "model": self.model,
            "input": str(self.input),
            "input_hash": display(self.input_hash),
            "output": str(self.output),
            "output_hash": display(self.output_hash),
            "rejects": None if self.rejects is None else str(self.rejects),
            "rejects_hash": None if self.rejects_hash is None else display(self.rejects_hash),
            "rows_read": self.rows_read,
            "rows_scored": self.rows_scored,
            "rows_rejected": self.rows_rejected,
            "warnings": self.warnings,
            "empty_rows": self.empty_rows,
            "seconds": round(self.seconds, 3),
        }


def _check_paths(input: Path, output: Path, rejects: Path | None, chunk_rows: int) -> None:
    if not 1 <= chunk_rows <= MAX_CHUNK_ROWS:
        raise InvalidInput(
            f"--chunk-rows must be between 1 and {MAX_CHUNK_ROWS:,}; got {chunk_rows}."
        )
    check_destination(output, what="--output")
    if rejects is not None:
        check_destination(rejects, what="--rejects")
    same = {p.resolve() for p in (input, output, rejects) if p is not None}
    if len(same) < 2 + (rejects is not None):
        raise InvalidInput(
            "--input, --output and --rejects must be three different files; "
            "scoring never writes over its input."
        )
    if input.is_dir() and any(
        p is not None and p.resolve().parent == input.resolve() for p in (output, rejects)
    ):
        raise InvalidInput(
            f"--output and --rejects must be outside the input folder {input}, "
            "or the next run would read them as input; write them elsewhere."
        )


def score_file(
    store: Store,
    artifacts: ArtifactStore,
    *,
    model_ref: str,
    input: Path,
    output: Path,
    actor: str,
    rejects: Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    sep: str | None = None,
    root: Path | None = None,
    progress: Callable[[Progress], None] | None = None,
    start_executor: Callable[[], Executor] | None = None,
) -> BatchResult:
    """Score ``input`` (CSV or Parquet, or a folder of Parquet files) with ``model_ref``
    (``NAME@N``/``NAME@ALIAS``) into ``output``, rows that break the model's rules into
    ``rejects`` (default: beside the output, ``NAME.rejects.csv``, written only when there are
    any). A folder is scored through Ray Data when ``start_executor`` gives a Ray executor
    (chunks in parallel on the cluster, written here in input order); otherwise chunk after chunk
    here. It is called for a folder only, once the paths, the model and the columns have
    passed their checks: a refused command never waits for a Ray to start.

    Raises ``NotFound`` (model), ``InvalidInput`` (paths, file, columns; nothing written, no
    job), ``IntegrityError`` (model blob); an error while scoring fails the recorded job.
    """
    input, output = Path(input).expanduser(), Path(output).expanduser()
    named_rejects = rejects is not None
    rejects = Path(rejects).expanduser() if rejects is not None else default_rejects(output)
    _check_paths(input, output, rejects, chunk_rows)
    scorer = scorer_for(store, artifacts, model_ref, root=root)
    folder = input.is_dir()
    opened = open_folder_chunks(input, rows=chunk_rows) if folder else None
    with opened or open_chunks(input, rows=chunk_rows, sep=sep) as chunks:
        scorer.check_columns(chunks.schema.names, where=str(input))
        executor = start_executor() if folder and start_executor is not None else None
        ray_data = executor is not None and executor.kind == "ray"
        started = time.perf_counter()
        input_hash = folder_hash(parquet_files(input)) if folder else hash_chunks(input)
        version = scorer.model.version
        job_id = start_job(
            store,
            kind=KIND,
            model_version_id=version.id,
            params={
                "chunk_rows": chunk_rows,
                "model_ref": model_ref,
                "executor": "ray" if ray_data else "local",
            },
            inputs={
                "path": str(input.resolve()),
                "hash": display(input_hash),
                "format": chunks.format,
                **({"files": len(parquet_files(input))} if folder else {}),
            },
            actor=actor,
        )
        run = _Run(scorer, chunks, output, rejects, named_rejects, progress)
        try:
            if ray_data:
                from mloop.batch.ray_data import score_with_ray_data

                run.all(
                    score_with_ray_data(
                        scorer, run.columns, parquet_files(input), chunks, rows=chunk_rows
                    )
                )
            else:
                run.all()
            output_hash, rejects_hash = run.commit()
        except BaseException as exc:
            run.abort()
            end_job(store, job_id, status="failed", counts=run.counts(), error=_reason(exc))
            raise
    seconds = time.perf_counter() - started
    written = rejects if rejects_hash is not None else None
    outputs = {"path": str(output.resolve()), "hash": display(output_hash)}
    if written is not None and rejects_hash is not None:
        outputs |= {"rejects_path": str(written.resolve()), "rejects_hash": display(rejects_hash)}
    end_job(store, job_id, status="succeeded", outputs=outputs, counts=run.counts())
    return BatchResult(
        job_id=job_id,
        model=version.ref,
        input=input,
        output=output,
        rejects=written,
        rows_read=run.read,
        rows_scored=run.scored,
        rows_rejected=run.rejected,
        warnings=run.warning_counts(),
        empty_rows=chunks.empty.count,
        input_hash=input_hash,
        output_hash=output_hash,
        rejects_hash=rejects_hash,
        seconds=seconds,
        notes=tuple(filter(None, [_nullable_note(run.nullable_rejects, version.signature)])),
    )


def _nullable_note(columns: set[str], signature: Signature) -> str | None:
    """How to score rows rejected for a missing value: the signature says "nullable": false for
    a column that had no gaps in training (an inferred rule, not a judgement on the data), and a
    model keeps the rules it was trained with, so the schema is edited and the model retrained
    (README: "nulls that are now allowed … edit the exported schema and --import it")."""
    if not columns:
        return None
    names = sorted(columns)
    listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    fix = f'set "nullable": true for {listed} in the schema'
    if signature.dataset:
        name = signature.dataset.partition("@")[0]
        fix = (
            f"export the rules (`mloop data schema {name} --export FILE`), {fix}, import it "
            f"(`mloop data schema {name} --import FILE`)"
        )
    return (
        f"rows missing a value in {listed} were rejected (rule nullable: the model's rules, "
        f"inferred from training data with none missing there, allow none); to score such "
        f"rows, {fix} and train again: a model keeps the rules it was trained with."
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True)
class ChunkResult:
    """One chunk scored: the rows to write (input columns, then predictions; None when none
    are written), its rejects (rows numbered within the chunk, from 1), and its counts."""

    rows: pa.Table | None
    rejects: pa.Table | None
    read: int
    scored: int
    warnings: Counter[tuple[str, str]]


def score_chunk(
    scorer: Scorer,
    columns: InputColumns,
    chunk: pa.Table,
    *,
    text_input: bool,
    delimiter: str = ",",
) -> ChunkResult:
    """Validate and score one chunk into what the writers take: here, or on a Ray worker."""
    scored = scorer.score(chunk, infer_types=text_input, delimiter=delimiter)
    rows = None
    if len(scored.kept) or scorer.output_schema() is not None:
        kept = chunk if len(scored.kept) == chunk.num_rows else chunk.take(scored.kept)
        rows = columns.table(kept)
        predictions = scored.predictions
        for field, column in zip(predictions.schema, predictions.columns, strict=True):
            rows = rows.append_column(field, column)
    rejects = reject_table(scored.rejects, 0) if scored.rejects else None
    return ChunkResult(rows, rejects, chunk.num_rows, len(scored.kept), scored.warnings)


class _Run:
    """One pass over the chunks: counts, and the two writers (opened on first use)."""

    def __init__(
        self,
        scorer: Scorer,
        chunks: Chunks,
        output: Path,
        rejects: Path,
        named_rejects: bool,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        self.scorer = scorer
        self.chunks = chunks
        self.output = output
        self.rejects_path = rejects
        self.named_rejects = named_rejects
        self.progress = progress
        self.text_input = chunks.format == "csv"
        self.columns = InputColumns(
            chunks.schema,
            text_input=self.text_input,
            output=output,
            signature=scorer.model.version.signature,
        )
        self.writer: TableWriter | None = None
        self.reject_writer: TableWriter | None = None
        self.read = self.scored = self.rejected = 0
        self.warnings: Counter[tuple[str, str]] = Counter()
        self.nullable_rejects: set[str] = set()  # columns with a row rejected for a missing value

    def all(self, results: Iterable[ChunkResult] | None = None) -> None:
        """Write every chunk's result in order: ``results`` scored elsewhere (Ray Data), else
        the chunks scored here one after the other."""
        try:
            for result in self._scored_here() if results is None else results:
                self._add(result)
        except ModelFailures as exc:  # named as in the file, as the rejects are
            row = self.chunks.empty.in_file(np.array([exc.row + self.read]))[0]
            raise exc.at(f"row {row} of {self.chunks.path}") from exc.cause

    def _scored_here(self) -> Iterator[ChunkResult]:
        for chunk in self.chunks:
            yield score_chunk(
                self.scorer,
                self.columns,
                chunk,
                text_input=self.text_input,
                delimiter=self.chunks.delimiter,
            )

    def _add(self, result: ChunkResult) -> None:
        offset = self.read
        if result.rows is not None:
            self._output(result.rows.schema).write(result.rows)
        if result.rejects is not None:
            # numbered as in the file: the rows before this chunk, and the empty rows left out
            within = result.rejects.column("row").to_numpy()
            in_file = pa.array(self.chunks.empty.in_file(within + offset), pa.int64())
            self._rejects().write(result.rejects.set_column(0, "row", in_file))
            missing = pc.filter(result.rejects, pc.equal(result.rejects.column("rule"), "nullable"))
            self.nullable_rejects.update(missing.column("column").unique().to_pylist())
        self.read += result.read
        self.scored += result.scored
        self.rejected += result.read - result.scored
        self.warnings.update(result.warnings)
        if self.progress is not None:
            self.progress(self._progress())

    def _progress(self) -> Progress:
        total = self.chunks.total_rows
        fraction = self.read / total if total else self.chunks.fraction_read()
        return Progress(self.read, self.scored, self.rejected, total, fraction)

    def _output(self, schema: pa.Schema) -> TableWriter:
        if self.writer is None:
            predictions = self.scorer.output_schema()
            if predictions is not None:  # the signature's types, not one chunk's
                schema = pa.schema([*self.columns.schema, *predictions])
            self.writer = TableWriter(self.output, schema)
        return self.writer

    def _rejects(self) -> TableWriter:
        if self.reject_writer is None:
            self.reject_writer = TableWriter(self.rejects_path, REJECT_SCHEMA)
        return self.reject_writer

    def commit(self) -> tuple[str, str | None]:
        """Finish both files, then move both into place: the output hash, the rejects' (if any)."""
        if self.writer is None:  # no row scored: a file with the header only
            predictions = self.scorer.output_schema() or pa.schema([(PREDICTION, pa.string())])
            self._output(pa.schema([*self.columns.schema, *predictions]))
        if self.named_rejects:
            self._rejects()
        assert self.writer is not None
        output_hash = self.writer.finish()
        rejects_hash = None if self.reject_writer is None else self.reject_writer.finish()
        self.writer.publish()
        if self.reject_writer is not None:
            self.reject_writer.publish()
        return output_hash, rejects_hash

    def abort(self) -> None:
        for writer in (self.writer, self.reject_writer):
            if writer is not None:
                writer.abort()

    def counts(self) -> dict[str, Any]:
        return {
            "rows_read": self.read,
            "rows_scored": self.scored,
            "rows_rejected": self.rejected,
            "warnings": self.warning_counts(),
        }

    def warning_counts(self) -> dict[str, int]:
        return {
            f"{column}:{rule}": count for (column, rule), count in sorted(self.warnings.items())
        }
