"""A date written as text is the same instant when a model is trained, served, validated and
monitored: the schema keeps the format the training file's dates were read in, and every later
reading of the column's text uses it (3/14/52 stays 1952, 01/02/24 in a day-first column stays
the 1st of February, a value in another format is a type error, not another date)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import mloop
from mloop.data.datasets import add_version, current_schema, import_schema
from mloop.data.io import read_arrow, read_table, to_pandas
from mloop.data.profile import DatasetProfile
from mloop.data.schema import Schema
from mloop.errors import InvalidInput
from mloop.monitoring.drift import profile_on
from mloop.serving.codec import parse_predict
from mloop.serving.runner import ModelRunner
from mloop.workspace import Workspace

TRAINING = (
    "born,seen,visit,x,y\n"
    "3/14/52,18/05/24,05/18/2024 01:48 p.m.,1,0\n"
    "7/4/56,02/06/24,06/02/2024 09:05 a.m.,2,1\n"
    "12/1/61,13/06/24,06/13/2024 11:59 p.m.,3,0\n"
    "1/30/49,01/07/24,07/01/2024 12:15 p.m.,4,1\n"
)
# A person born after 2010 is not a customer; the visits log started on 15 January 2024.
RULES = {"born": {"max": "2010-12-31"}, "seen": {"min": "2024-01-15"}}


@pytest.fixture
def dated(workspace: Workspace, tmp_path: Path) -> Workspace:
    """A dataset of short dates as spreadsheets write them, with bounds a user would set."""
    path = tmp_path / "train.csv"
    path.write_text(TRAINING)
    add_version(workspace.store, workspace.artifacts, name="t", path=path, actor="t")
    schema = current_schema(workspace.store, "t")
    columns = [
        c.model_copy(update=RULES.get(c.name, {})) if c.name in RULES else c for c in schema.columns
    ]
    import_schema(workspace.store, "t", schema.model_copy(update={"columns": columns}), actor="t")
    return workspace


def test_the_schema_keeps_the_format_each_date_column_was_read_in(dated: Workspace) -> None:
    schema = current_schema(dated.store, "t")
    formats = {c.name: c.format for c in schema.columns}
    assert formats == {
        "born": "%m/%d/%y",
        "seen": "%d/%m/%y",
        "visit": "%m/%d/%Y %I:%M %p",
        "x": None,
        "y": None,
    }
    exported = schema.to_json()["columns"]
    assert exported[0]["format"] == "%m/%d/%y"
    assert "format" not in exported[3]  # a number column says nothing about date formats


def test_a_schema_stored_before_formats_still_loads_and_reads_dates_as_before() -> None:
    old = {"columns": [{"name": "born", "type": "datetime", "max": "2010-12-31"}]}
    schema = Schema.from_json(old)
    assert schema.column("born").format is None
    found = schema.compile().validate_records([{"born": "2052-03-14"}, {"born": "1952-03-14"}])
    assert [(e.row, e.rule) for e in found.errors] == [(1, "max")]


def test_a_format_on_a_column_that_is_not_a_datetime_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"column 'n': format is the way a datetime column"):
        Schema.from_json({"columns": [{"name": "n", "type": "integer", "format": "%d/%m/%y"}]})


def _logged_model(workspace: Workspace) -> ModelRunner:
    frame = mloop.load_dataset("t@1", workspace=workspace)
    pipeline = make_pipeline(
        ColumnTransformer([("x", "passthrough", ["x"])]), LogisticRegression()
    ).fit(frame.drop(columns="y"), frame["y"])
    with mloop.start_run(experiment="dates", workspace=workspace) as run:
        run.log_input(_version(workspace))
        run.log_model(pipeline, name="m", target="y")
    return ModelRunner.from_loaded(mloop.load_model("m@1", workspace=workspace))


def _version(workspace: Workspace) -> Any:
    return mloop.get_dataset("t@1", workspace=workspace)


def _served(runner: ModelRunner, *rows: dict[str, Any]) -> list[tuple[int | None, str, str]]:
    table = parse_predict(json.dumps({"dataframe_records": list(rows)}).encode())
    return sorted((e.row, e.column, e.rule) for e in runner.validate(table).errors)


def test_a_request_s_dates_are_read_as_the_training_file_s(dated: Workspace) -> None:
    runner = _logged_model(dated)
    good = {"born": "3/14/52", "seen": "01/02/24", "visit": "05/18/2024 01:48 p.m.", "x": 1}
    assert _served(runner, good) == []  # 1952 is before the max, 1 February after the min
    iso = {"born": "1952-03-14", "seen": "2024-02-01T00:00:00.000", "visit": "2024-05-18 13:48"}
    assert _served(runner, good | iso) == []  # as a JSON client writes dates: unambiguous
    assert _served(
        runner,
        good | {"seen": "05/18/24"},  # month first in a day-first column
        good | {"visit": "05/18/2024 13:48"},  # a 24-hour time in a 12-hour column
        good | {"born": "14.03.52"},  # another spelling altogether
    ) == [(1, "seen", "type"), (2, "visit", "type"), (3, "born", "type")]


def test_a_later_file_s_dates_are_read_as_the_training_file_s(
    cli: Any, dated: Workspace, tmp_path: Path
) -> None:
    """Its columns of ambiguous or unreadable values, which no format of their own reads."""
    later = tmp_path / "later.csv"
    later.write_text(
        "born,seen,visit,x,y\n"
        "3/14/52,01/02/24,05/18/2024 01:48 p.m.,1,0\n"
        "soon,03/02/24,05/18/2024 13:48,2,1\n"
    )
    result = cli("data", "validate", "t", later, "--json")
    body = json.loads(result.stdout)
    found = [(v["column"], v["rule"], v["examples"]) for v in body["violations"]]
    assert found == [("born", "type", [2]), ("visit", "type", [2])]
    messages = {v["column"]: v["message"] for v in body["violations"]}
    assert "written as %m/%d/%Y %I:%M %p" in messages["visit"]


def test_logged_dates_are_compared_with_the_training_dates_as_the_same_instants(
    dated: Workspace,
) -> None:
    """The prediction log holds a request's dates as the text sent; drift reads them so."""
    reference = DatasetProfile.from_json(_version(dated).profile)
    logged = pa.table({"born": ["3/14/52", "7/4/56"], "seen": ["01/02/24", "13/06/24"]})
    current = profile_on(reference, logged).columns
    assert current["born"].to_json()["max"] == "1956-07-04T00:00:00"
    assert current["seen"].to_json()["min"] == "2024-02-01T00:00:00"


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("3.10.12\n3.11.14\n3.9.18\n", None),
        ("3.10.12\n3.12.1\n", None),
        ("18.05.24\n04.07.56\n", ["2024-05-18", "1956-07-04"]),
        ("18.05.2024\n4.7.2024\n", ["2024-05-18", "2024-07-04"]),
    ],
    ids=["python-versions", "short-versions", "german-short-date", "german-date"],
)
def test_version_numbers_are_not_dotted_dates(
    tmp_path: Path, text: str, dates: list[str] | None
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("v\n" + text)
    expected = text.splitlines() if dates is None else [pd.Timestamp(d) for d in dates]
    assert list(read_table(path)["v"]) == expected


def test_a_file_scored_in_batch_reads_its_dates_as_the_training_file_s(
    cli: Any, dated: Workspace, tmp_path: Path
) -> None:
    """``mloop predict`` reads a file in chunks, each typed on its own: with the schema's formats."""
    _logged_model(dated)
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(
        "born,seen,visit,x\n"
        "3/14/52,01/02/24,05/18/2024 01:48 p.m.,1\n"
        "7/4/56,03/02/24,05/18/2024 13:48,2\n"
    )
    result = cli("predict", "m@1", "-i", source, "-o", out, "--rejects", tmp_path / "bad.csv")
    assert result.exit_code == 1, result.stderr  # a row was rejected
    assert pd.read_csv(out)["x"].tolist() == [1]  # 1 February 2024 is after the min
    rejected = pd.read_csv(tmp_path / "bad.csv")
    assert rejected[["row", "column", "rule"]].values.tolist() == [[2, "visit", "type"]]


def test_a_later_version_of_only_ambiguous_dates_reads_them_as_the_first_did(
    dated: Workspace, tmp_path: Path
) -> None:
    """Alone, 01/02/24 and 03/04/24 fit day-first and month-first, so a file of them stays text;
    as a version of a dataset whose `seen` is day-first they are its dates. A version in a new,
    unambiguous format of its own still reads in that format."""
    later = tmp_path / "m2.csv"
    visits = "05/18/2024 01:48 p.m."
    later.write_text(
        f"born,seen,visit,x,y\n3/14/52,01/02/24,{visits},1,0\n7/4/56,03/04/24,{visits},2,1\n"
    )
    added = add_version(dated.store, dated.artifacts, name="t", path=later, actor="t")
    seen = added.version.schema.column("seen")
    assert seen.type == "datetime" and seen.format == "%d/%m/%y"
    assert added.warnings == ()  # nothing differs from the dataset's schema
    formats = current_schema(dated.store, "t").date_formats()
    frame = to_pandas(read_arrow(later, formats=formats))
    assert frame["seen"].tolist() == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-04-03")]
    iso = tmp_path / "m3.csv"
    iso.write_text(
        f"born,seen,visit,x,y\n1952-03-14,2024-02-01,{visits},1,0\n"
        f"1956-07-04,2024-04-03,{visits},2,1\n"
    )
    again = add_version(dated.store, dated.artifacts, name="t", path=iso, actor="t")
    assert again.version.schema.column("seen").type == "datetime"
