"""``data = { log = "7d" }``: what production logged and labelled becomes the training table."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from mloop.loop.log_data import labelled_rows
from mloop.monitoring.feedback import record_labels
from mloop.monitoring.labels import as_array
from mloop.predlog import folder_for
from mloop.workspace import Workspace
from tests.monitoring.logdata import T0, churn_records, write_log


def test_only_answered_labelled_requests_train(workspace: Workspace) -> None:
    """A request refused 422 (or failed 500) has a label once feedback arrives by key, but no
    inputs the model was scored on: it must not reach training as a row of nulls."""
    root = folder_for(workspace.settings)
    records = churn_records(60, reject_every=5, error_every=7)
    shadow = churn_records(60, role="shadow", prefix="shadow")
    write_log(root, "churn", records, shadow)
    ids = [r["prediction_id"] for r in records]
    labels = pa.table({"id": pa.array(ids, pa.string()), "label": as_array(["yes"] * len(ids))})
    record_labels(root, "churn", labels)
    table = labelled_rows(
        workspace, "churn", window="7d", target="churned", now=T0 + dt.timedelta(days=1)
    )
    answered = [r for r in records if r["status"] == 200]
    assert table.num_rows == len(answered) < len(records)
    assert set(table.column_names) == {"tenure", "contract", "monthly_charges", "churned"}
    assert table.column("contract").null_count == 0
