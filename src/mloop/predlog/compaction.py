"""Compaction, off the writer's thread: sealed streams become Parquet, small Parquet files merge.

A log written for months at a steady rate would otherwise be millions of small files, and a
query opens every one. Two steps keep it at a few big sorted files:

1. a sealed stream (rotated by size, age or a schema change) becomes one level-0 Parquet file;
2. Parquet files smaller than half the target size that have aged past ``min_age_s`` are merged,
   oldest first, into files of up to ``target_bytes`` (sorted by timestamp, so a time filter
   skips whole row groups). The merge writes a ``.merge`` intent before publishing its output,
   so a crash at any point leaves each record visible exactly once (``segments.visible_files``).

Merges of one endpoint are serialised across processes by an ``flock`` on ``.compact.lock``;
a stream whose writer process is gone (its lock in ``.writers/`` is free) is recovered by the
next process that opens the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from mloop.predlog.segments import (
    MERGE_SUFFIX,
    ROW_GROUP_ROWS,
    STREAM_SUFFIX,
    ParquetFile,
    convert_stream,
    fsync_dir,
    parquet_name,
    parse_parquet,
    parse_stream,
    read_intent,
    temp_path,
    visible_files,
    write_intent,
)

log = logging.getLogger(__name__)

WRITERS_DIR = ".writers"
COMPACT_LOCK = ".compact.lock"
STALE_TMP_S = 600.0


@dataclass(frozen=True)
class MergePolicy:
    """When small Parquet files are merged; the defaults suit 10⁷ records a day and more."""

    target_bytes: int = 64 << 20
    min_files: int = 4
    min_age_s: float = 60.0


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """An exclusive ``flock`` if free right now; yields whether it was taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def writer_alive(root: Path, writer: str) -> bool:
    """Whether the process that owns ``writer`` still holds its lock (so its stream is live)."""
    lock = root / WRITERS_DIR / f"{writer}.lock"
    if not lock.exists():
        return False
    with try_lock(lock) as taken:
        return not taken


def endpoint_folders(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except FileNotFoundError:
        return []


def recover_intents(folder: Path) -> None:
    """Finish or forget merges a crash interrupted (call with the endpoint's compact lock held)."""
    now = time.time()
    for path in folder.iterdir():
        if path.name.endswith(MERGE_SUFFIX):
            intent = read_intent(path)
            if intent is not None and (folder / intent[0]).exists():
                for name in intent[1]:
                    with contextlib.suppress(FileNotFoundError):
                        (folder / name).unlink()
                fsync_dir(folder)
            path.unlink()
        elif path.name.endswith(".tmp"):
            with contextlib.suppress(FileNotFoundError):
                if now - path.stat().st_mtime > STALE_TMP_S:
                    path.unlink()


def _temp_writer(path: Path) -> str | None:
    """The writer whose conversion or merge left the temp file ``path`` (None if not ours)."""
    final = parse_parquet(path.with_name(path.name.rsplit(".", 2)[0]))
    return None if final is None else final.writer


def recover_streams(root: Path, own_writer: str) -> int:
    """Convert the streams of writers that died (SIGKILL, power loss) and delete their half-written
    temp files; returns how many streams were converted."""
    done = 0
    dead: set[str] = set()
    for folder in endpoint_folders(root):
        for path in folder.glob("*.tmp"):
            writer = _temp_writer(path)
            if writer and writer != own_writer and not writer_alive(root, writer):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        parquet, streams = visible_files(folder)
        for stream in streams:
            if stream.writer == own_writer:
                continue
            if stream.writer in dead or not writer_alive(root, stream.writer):
                dead.add(stream.writer)
                convert_stream(stream)
                done += 1
        # a writer killed between publishing a conversion and deleting its stream leaves the
        # stream behind, hidden by the Parquet file that holds its records: delete it
        converted = {p.uid for p in parquet}
        for path in folder.glob("*" + STREAM_SUFFIX):
            leftover = parse_stream(path)
            if leftover is None or leftover.writer == own_writer or leftover.uid not in converted:
                continue
            if leftover.writer in dead or not writer_alive(root, leftover.writer):
                dead.add(leftover.writer)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    for writer in dead:
        with contextlib.suppress(FileNotFoundError):
            (root / WRITERS_DIR / f"{writer}.lock").unlink()
    return done


def plan_merges(
    files: list[ParquetFile], sizes: dict[Path, int], policy: MergePolicy, now_ms: int
) -> list[list[ParquetFile]]:
    """Groups of aged small files to merge, oldest first, each up to the target size."""
    small = [
        f
        for f in files
        if sizes.get(f.path, policy.target_bytes) < policy.target_bytes // 2
        and now_ms - f.max_ms >= policy.min_age_s * 1000
    ]
    groups: list[list[ParquetFile]] = []
    run: list[ParquetFile] = []
    total = 0
    for f in sorted(small, key=lambda f: (f.min_ms, f.uid)):
        if run and total + sizes[f.path] > policy.target_bytes:
            groups.append(run)
            run, total = [], 0
        run.append(f)
        total += sizes[f.path]
    if run:
        groups.append(run)
    return [
        g
        for g in groups
        if len(g) >= policy.min_files
        or (len(g) >= 2 and sum(sizes[f.path] for f in g) >= policy.target_bytes // 2)
    ]


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def merge(folder: Path, group: list[ParquetFile], uid: str) -> Path:
    """Merge ``group`` into one sorted Parquet file; the inputs go once it is published."""
    level = max(f.level for f in group) + 1
    final = folder / parquet_name(
        min(f.min_ms for f in group), max(f.max_ms for f in group), level, uid
    )
    tmp = temp_path(final)
    files = ", ".join(_sql_text(str(f.path)) for f in group)
    con = duckdb.connect()
    try:
        # One thread and a memory cap: compaction shares the machine with the server it logs for.
        con.execute("SET threads = 1")
        con.execute("SET memory_limit = '512MB'")
        con.execute(f"SET temp_directory = {_sql_text(str(folder.parent / '.duckdb-tmp'))}")
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            f"COPY (SELECT * FROM read_parquet([{files}], union_by_name = true) "
            f"ORDER BY timestamp) TO {_sql_text(str(tmp))} "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
        )
    finally:
        con.close()
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    intent = folder / f"{uid}{MERGE_SUFFIX}"
    write_intent(intent, final.name, [f.path.name for f in group])
    os.replace(tmp, final)
    fsync_dir(folder)
    for f in group:
        with contextlib.suppress(FileNotFoundError):
            f.path.unlink()
    fsync_dir(folder)
    intent.unlink()
    return final


def merge_endpoint(
    folder: Path, policy: MergePolicy, new_uid: Callable[[], str], *, now_ms: int | None = None
) -> int:
    """Run the merges ``folder`` is due for, unless another process is merging it; returns how many."""
    with try_lock(folder / COMPACT_LOCK) as taken:
        if not taken:
            return 0
        recover_intents(folder)
        parquet, _ = visible_files(folder)
        sizes = {}
        for f in parquet:
            with contextlib.suppress(FileNotFoundError):
                sizes[f.path] = f.path.stat().st_size
        now = int(time.time() * 1000) if now_ms is None else now_ms
        groups = plan_merges([f for f in parquet if f.path in sizes], sizes, policy, now)
        for group in groups:
            merge(folder, group, new_uid())
        return len(groups)


_STOP = object()


class Compactor:
    """The one background thread that converts sealed streams and merges Parquet files."""

    def __init__(
        self,
        root: Path,
        writer_id: str,
        new_uid: Callable[[], str],
        policy: MergePolicy,
        *,
        merge_every_s: float = 30.0,
    ) -> None:
        self.root = root
        self.writer_id = writer_id
        self.policy = policy
        self.errors = 0
        self._new_uid = new_uid
        self._merge_every_s = merge_every_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="mloop-predlog-compactor", daemon=True
        )
        self._thread.start()

    def sealed(self, path: Path) -> None:
        self._queue.put(path)

    def stop(self, timeout: float | None = None) -> None:
        """Finish the conversions already handed over, then end the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _guard(self, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:  # a full disk or a bad file must not end compaction for good
            self.errors += 1
            log.exception("prediction log compaction failed in %s", self.root)

    def _merge_all(self) -> None:
        for folder in endpoint_folders(self.root):
            self._guard(functools.partial(merge_endpoint, folder, self.policy, self._new_uid))

    def _run(self) -> None:
        self._guard(lambda: recover_streams(self.root, self.writer_id))
        next_merge = time.monotonic() + self._merge_every_s
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_merge - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if isinstance(item, Path):
                stream = parse_stream(item)
                if stream is not None:
                    self._guard(functools.partial(convert_stream, stream))
            if time.monotonic() >= next_merge:
                self._merge_all()
                next_merge = time.monotonic() + self._merge_every_s
