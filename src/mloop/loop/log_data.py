"""Training data from production: the log's inputs joined with the labels that came back.

``data = { log = "7d" }`` takes the endpoint's answered requests of the last seven days that
have a label, the inputs named as in training and the label as the policy's target column. The
rows are validated against the serving model's schema (the same rules its requests passed), then
snapshotted as a new version of a dataset (``<endpoint>-log`` unless the policy names one), so the
run that trains on them has a content-addressed input like any other.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mloop.data.datasets import DatasetVersion, add_version
from mloop.errors import InvalidInput, ValidationFailed
from mloop.monitoring.feedback import read_labelled
from mloop.predlog.paths import folder_for
from mloop.predlog.timespec import parse_duration
from mloop.registry.versions import ModelVersion
from mloop.workspace import Workspace

INPUT_PREFIX = "input."


def labelled_rows(
    ws: Workspace, endpoint: str, *, window: str, target: str, now: dt.datetime
) -> pa.Table:
    """The window's answered, labelled records: inputs as columns, the label as ``target``."""
    since = now - parse_duration(window, option="data.log")
    log = read_labelled(folder_for(ws.settings), endpoint, since=since, until=now)
    if "role" in log.column_names:  # a shadow repeats the primary's inputs
        log = log.filter(pc.fill_null(pc.not_equal(log.column("role"), "shadow"), True))
    if "status" in log.column_names:  # a refused request's label teaches nothing: no inputs kept
        log = log.filter(pc.fill_null(pc.less(log.column("status"), 400), False))
    if "label" in log.column_names:
        log = log.filter(pc.is_valid(log.column("label")))
    inputs = [n for n in log.column_names if n.startswith(INPUT_PREFIX)]
    if log.num_rows == 0 or not inputs or "label" not in log.column_names:
        raise InvalidInput(
            f"The log of {endpoint!r} has no labelled requests in the last {window}; send labels "
            f"with `mloop feedback {endpoint} …` or widen data.log in [policies.{endpoint}]."
        )
    table = log.select(inputs).rename_columns([n[len(INPUT_PREFIX) :] for n in inputs])
    if target in table.column_names:
        table = table.drop_columns([target])
    return table.append_column(target, log.column("label"))


def snapshot_log(
    ws: Workspace,
    endpoint: str,
    *,
    window: str,
    target: str,
    dataset: str,
    model: ModelVersion | None,
    now: dt.datetime | None = None,
) -> DatasetVersion:
    """Validate the labelled window against ``model``'s schema and add it as a dataset version.

    Raises ``InvalidInput`` when there are no labelled rows, ``ValidationFailed`` when they break
    the model's rules (nothing is added then).
    """
    now = now or dt.datetime.now(dt.UTC)
    table = labelled_rows(ws, endpoint, window=window, target=target, now=now)
    if model is not None and model.signature.has_rules:
        report = (
            model.signature.rules(with_target=True)
            .compile(None, root=ws.root)
            .validate_table(table)
        )
        if not report.ok:
            shown = "; ".join(f"{v.column}: {v.rule} ({v.count})" for v in report.violations[:3])
            raise ValidationFailed(
                f"The labelled log of {endpoint!r} breaks {model.ref}'s schema ({shown}); "
                "no dataset version was made and nothing was trained.",
                details=report,
            )
    with tempfile.TemporaryDirectory(prefix="mloop-log-") as folder:
        path = Path(folder) / f"{dataset}.parquet"
        pq.write_table(table, path)
        return add_version(
            ws.store, ws.artifacts, name=dataset, path=path, actor=ws.user, root=ws.root
        ).version
