"""The prediction log: append-only Arrow/Parquet segments per endpoint, durable like Redis AOF.

Writing (the server): ``PredictionLog(folder_for(settings)).submit(endpoint, records)``.
Reading: ``read_log(folder, endpoint, since=..., limit=...)`` as a pyarrow Table, or
``connect(folder, endpoint)`` for a DuckDB connection with a ``log`` view. See
docs/prediction-log.md for the layout, the record columns and the durability policies.
"""

from mloop.predlog.compaction import MergePolicy
from mloop.predlog.paths import check_endpoint, folder_for
from mloop.predlog.reader import connect, export_log, read_log
from mloop.predlog.records import INPUT_PREFIX, PROBA_PREFIX, RECORD_KEYS, nested
from mloop.predlog.timespec import parse_when
from mloop.predlog.writer import DURABILITY, LogClosed, LogFull, PredictionLog

__all__ = [
    "DURABILITY",
    "INPUT_PREFIX",
    "PROBA_PREFIX",
    "RECORD_KEYS",
    "LogClosed",
    "LogFull",
    "MergePolicy",
    "PredictionLog",
    "check_endpoint",
    "connect",
    "export_log",
    "folder_for",
    "nested",
    "parse_when",
    "read_log",
]
