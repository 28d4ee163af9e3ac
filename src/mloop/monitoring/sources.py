"""What a side of a drift comparison names, read into a ``Side``.

- ``NAME@V`` (or ``NAME``, ``NAME@latest``): a dataset version's stored profile; its data is
  never read again.
- a path to a CSV or Parquet file: read with mloop's readers and profiled in one pass.
- ``ENDPOINT:WINDOW``: the prediction log's records in a window, each feature from its
  ``input.<col>`` column; shadow records are left out (they repeat the primary's inputs).
  Its ``prediction`` and ``proba.<class>`` columns come along (compared when both sides are
  log windows). ``WINDOW`` is a duration back from now (``24h``, ``7d``) or ``START/END``, each an ISO 8601
  time (UTC when it has no offset) or a duration ago (``48h/24h`` is yesterday).

An existing file wins over the other readings, so a file named like ``api:24h`` stays readable.
The reference is resolved first and decides the bins; the current side is counted on them.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mloop.data.datasets import get_version
from mloop.data.io import read_arrow
from mloop.data.profile import DatasetProfile, frame_table, infer_and_profile
from mloop.errors import InvalidInput
from mloop.monitoring.drift import PREDICTION, PROBA_PREFIX, Side, profile_on
from mloop.predlog.reader import read_log
from mloop.predlog.records import INPUT_PREFIX
from mloop.predlog.timespec import parse_when
from mloop.store import Store

_WINDOW = re.compile(r"^(?P<endpoint>[A-Za-z0-9][A-Za-z0-9_.-]{0,99}):(?P<window>.+)$")
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}(@[A-Za-z0-9_.-]+)?$")
TABLE_SUFFIXES = {".csv", ".parquet", ".pq", ".tsv", ".txt", ".gz", ".zst", ".bz2", ".xz"}


def parse_window(text: str, *, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """``24h`` or ``START/END`` as a UTC ``[start, end)``; raises ``InvalidInput``."""
    now = now or dt.datetime.now(dt.UTC)
    if "/" in text:
        first, _, second = text.partition("/")
        start = parse_when(first, option="The window's start", now=now)
        end = parse_when(second, option="The window's end", now=now)
    else:
        start, end = parse_when(text, option="The window", now=now), now
    if start >= end:
        raise InvalidInput(
            f"The window {text!r} is empty: its start {start.isoformat()} is not before its end "
            f"{end.isoformat()}."
        )
    return start, end


def log_window(
    log_folder: Path, endpoint: str, window: str, *, now: dt.datetime | None = None
) -> pa.Table:
    """The features of ``endpoint``'s answered records in ``window``, named as in training."""
    start, end = parse_window(window, now=now)
    log = read_log(log_folder, endpoint, since=start, until=end)
    features = features_of(log)
    if features.num_rows == 0 or not features.num_columns:
        raise InvalidInput(
            f"The log of {endpoint!r} has no records with inputs from {start.isoformat()} to "
            f"{end.isoformat()}; widen the window or see `mloop logs {endpoint}`."
        )
    # What the model answered rides along: compared when the reference is a log window too.
    answers = _answered(log)
    for name in answers.column_names:
        if answers.column(name).null_count < answers.num_rows:
            features = features.append_column(name, answers.column(name))
    return features


def _answered(log: pa.Table) -> pa.Table:
    if "role" in log.column_names:
        log = log.filter(pc.fill_null(pc.not_equal(log.column("role"), "shadow"), True))
    names = [n for n in log.column_names if n == PREDICTION or n.startswith(PROBA_PREFIX)]
    return log.select(names)


def features_of(log: pa.Table) -> pa.Table:
    """A log table's model inputs, one row per request a model answered for the caller:
    ``input.<col>`` as ``<col>``, shadow records left out (they repeat the primary's inputs)."""
    if "role" in log.column_names:
        log = log.filter(pc.fill_null(pc.not_equal(log.column("role"), "shadow"), True))
    inputs = [n for n in log.column_names if n.startswith(INPUT_PREFIX)]
    return log.select(inputs).rename_columns([n[len(INPUT_PREFIX) :] for n in inputs])


def _rows_side(label: str, table: pa.Table, reference: Side | None) -> Side:
    if reference is None:
        return Side(label, infer_and_profile(table)[1], table)
    return Side(label, profile_on(reference.profile, table), table)


def resolve(
    spec: str,
    store: Store,
    log_folder: Path,
    *,
    reference: Side | None = None,
    now: dt.datetime | None = None,
) -> Side:
    """The side ``spec`` names; ``reference`` given, counted on its bins.

    Raises ``InvalidInput`` for a file that is not a table or a spec that names nothing, and
    ``NotFound`` for an unknown dataset or an endpoint with no log.
    """
    text = spec.strip()
    path = Path(text)
    if path.is_file():
        return _rows_side(text, frame_table(read_arrow(path)), reference)
    window = _WINDOW.match(text)
    if window is not None:
        table = log_window(log_folder, window["endpoint"], window["window"], now=now)
        return _rows_side(text, table, reference)
    if path.suffix.lower() in TABLE_SUFFIXES or "/" in text or "\\" in text or path.is_dir():
        raise InvalidInput(
            f"{text} does not exist; check the path (or name NAME@V or ENDPOINT:24h)."
        )
    if not _DATASET.match(text):
        raise InvalidInput(
            f"{text!r} names no data to compare: give a dataset version (NAME@V), a CSV or "
            "Parquet file, or a prediction-log window (ENDPOINT:24h or ENDPOINT:START/END)."
        )
    version = get_version(store, text)
    return Side(version.ref, DatasetProfile.from_json(version.profile))


def sides(
    reference: str, current: str, store: Store, log_folder: Path, *, now: dt.datetime | None = None
) -> tuple[Side, Side]:
    """Both sides, the reference first (it decides the bins)."""
    ref = resolve(reference, store, log_folder, now=now)
    return ref, resolve(current, store, log_folder, reference=ref, now=now)
