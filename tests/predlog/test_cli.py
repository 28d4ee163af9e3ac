"""`mloop logs` as a user runs it in a workspace whose server has been logging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mloop.predlog import PredictionLog, folder_for
from mloop.workspace import Workspace
from tests.conftest import CliResult
from tests.predlog.conftest import make_records

Cli = Callable[..., CliResult]


@pytest.fixture
def logged(workspace: Workspace) -> Workspace:
    """30 churn records a minute apart ending now, every 3rd a shadow, one failed request."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    records = make_records(30, at=now - dt.timedelta(minutes=29), step_s=60)
    for i, r in enumerate(records):
        if i % 3 == 0:
            r.update(role="shadow", model="churn-next", version=2)
    records[-2].update(status=500, prediction=None, probabilities=None, error="model raised")
    with PredictionLog(folder_for(workspace.settings)) as log:
        log.submit("churn", records)
    return workspace


def test_table_shows_the_newest_records_last(logged: Workspace, cli: Cli) -> None:
    result = cli("logs", "churn", "--limit", "3")
    assert result.exit_code == 0, result.stderr
    body = result.stdout
    assert body.index("req-27") < body.index("req-28") < body.index("req-29")
    assert "req-26" not in body
    assert "churn-next@2" in body and "model raised" in body and "tenure=" in body
    assert result.stderr == ""


def test_default_shows_twenty_and_says_there_are_more(logged: Workspace, cli: Cli) -> None:
    result = cli("logs", "churn", "--json")
    assert result.exit_code == 0
    rows = orjson.loads(result.stdout)
    assert [r["request_id"] for r in rows] == [f"req-{i}" for i in range(10, 30)]
    assert "Showing the newest 20" in result.stderr


def test_json_records_have_the_logged_shape(logged: Workspace, cli: Cli) -> None:
    result = cli("logs", "churn", "--role", "shadow", "--since", "10m", "--json")
    assert result.exit_code == 0, result.stderr
    rows = orjson.loads(result.stdout)
    assert {r["role"] for r in rows} == {"shadow"}
    assert 3 <= len(rows) <= 4  # every 3rd of the last ~10 minutes
    first: dict[str, Any] = rows[0]
    assert set(first["inputs"]) == {"tenure", "plan", "charges"}
    assert first["probabilities"] == {"yes": 0.25, "no": 0.75}
    assert dt.datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    assert result.stderr == ""


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_export_writes_every_selected_record(
    logged: Workspace, cli: Cli, tmp_path: Path, suffix: str
) -> None:
    target = tmp_path / f"log.{suffix}"
    result = cli("logs", "churn", "--since", "2000-01-01", "--export", target)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"Wrote 30 records to {target}."
    table = pq.read_table(target) if suffix == "parquet" else pacsv.read_csv(target)
    assert table.num_rows == 30


def test_an_unknown_endpoint_is_one_sentence(logged: Workspace, cli: Cli) -> None:
    result = cli("logs", "fraud")
    assert result.exit_code == 2
    assert "No prediction log for endpoint 'fraud'" in result.stderr
    assert "`mloop serve`" in result.stderr and "`mloop endpoints ls`" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since 'yesterday' is neither a duration"),
        (["--until", "soon"], "--until 'soon' is neither a duration"),
        (["--role", "blue"], "--role 'blue' is not one of primary, canary, shadow"),
        (["--export", "out.xlsx"], "name a .parquet or .csv file"),
        # before: "No records ... match." and exit 0 (an empty file with --export)
        (["--since", "1h", "--until", "2h"], "--until '2h' is not after --since '1h'"),
        (["--since", "2026-03-02", "--until", "2026-03-02", "--export", "w.csv"], "not after"),
    ],
)
def test_bad_options_exit_2_with_one_sentence(
    logged: Workspace, cli: Cli, args: list[str], message: str
) -> None:
    result = cli("logs", "churn", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not list(logged.root.glob("*.xlsx*")) and not list(logged.root.glob("w.csv*"))


def test_an_empty_window(logged: Workspace, cli: Cli) -> None:
    result = cli("logs", "churn", "--until", "2000-01-01")
    assert result.exit_code == 0
    assert "No records in the log of churn match." in result.stdout
