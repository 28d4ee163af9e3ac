"""A delimiter ending every line (``a,b,,`` from Excel and many exports) adds no columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mloop.data import datasets
from mloop.data.datasets import add_version
from mloop.data.io import EmptyRows, read_arrow
from mloop.workspace import Workspace
from tests.data.test_streaming_add import numeric_csv
from tests.data.test_streaming_add import stream_small_files as stream_small_files  # fixture


def test_trailing_unnamed_empty_columns_are_not_columns(cli: Any, tmp_path: Path) -> None:
    rows = "".join(
        f"{20 + i % 40},{'pro' if i % 3 else 'basic'},{'yes' if i % 2 else 'no'},,\n"
        for i in range(60)
    )
    path = tmp_path / "export.csv"
    path.write_text("age,plan,churned,,\n" + rows)
    added = cli("data", "add", "export", path)
    assert added.exit_code == 0, added.stderr
    assert "columns=3" in added.stdout
    names = [c["name"] for c in json.loads(cli("data", "schema", "export").stdout)["columns"]]
    assert names == ["age", "plan", "churned"]
    assert cli("data", "validate", "export", path).exit_code == 0
    assert cli("train", "--data", "export", "--target", "churned", "--register", "e").exit_code == 0
    batch = tmp_path / "batch.csv"
    batch.write_text("age,plan,\n30,pro,\n41,basic,\n")
    scored = cli("predict", "e@1", "--input", batch, "--output", tmp_path / "out.csv")
    assert scored.exit_code == 0, scored.stderr
    assert "scored=2 rejected=0" in scored.stdout


def test_an_unnamed_column_with_values_is_still_refused(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "index.csv"
    path.write_text("a,b,,\n1,x,,\n2,y,5,\n")
    refused = cli("data", "add", "t", path)
    assert refused.exit_code == 2
    assert "columns named ''" in refused.stderr
    assert "t@1" not in cli("data", "ls").stdout, "nothing is left behind"


EXCEL = "age,plan,churned\r\n" + "".join(
    f"{20 + i},{'pro' if i % 3 else 'basic'},{'yes' if i % 2 else 'no'}\r\n" for i in range(40)
)


def test_rows_of_only_delimiters_below_an_excel_table_are_left_out(
    cli: Any, tmp_path: Path
) -> None:
    """Excel writes ``,,`` for the cleared rows below a table: they were read as rows of nulls
    (more rows than the file has, every column partly missing) and now are left out, once said."""
    path = tmp_path / "export.csv"
    path.write_text(EXCEL + ",,\r\n,,\r\n", newline="")
    added = cli("data", "add", "export", path)
    assert added.exit_code == 0, added.stderr
    assert "rows=40 columns=3" in added.stdout
    assert added.stderr.count("skipped 2 empty rows") == 1
    columns = json.loads(cli("data", "schema", "export").stdout)["columns"]
    assert [c["nullable"] for c in columns] == [False, False, False]  # no row of gaps counted

    checked = cli("data", "validate", "export", path)
    assert checked.exit_code == 0, checked.stdout
    assert "40 rows, no violations" in checked.stdout
    assert checked.stderr.count("skipped 2 empty rows") == 1
    assert json.loads(cli("data", "validate", "export", path, "--json").stdout)["empty_rows"] == 2


def test_a_row_with_one_value_is_kept(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(EXCEL + ",pro,\r\n,,\r\n", newline="")
    added = cli("data", "add", "export", path)
    assert added.exit_code == 0, added.stderr
    assert "rows=41 columns=3" in added.stdout
    assert "skipped 1 empty row " in added.stderr


def test_a_file_of_only_empty_rows_has_no_data_rows(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "cleared.csv"
    path.write_text("age,plan,churned\n,,\n,,\n")
    refused = cli("data", "add", "cleared", path)
    assert refused.exit_code == 2
    assert "has a header but no data rows" in refused.stderr


def test_predict_leaves_empty_rows_out_instead_of_rejecting_them(cli: Any, tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text(EXCEL, newline="")
    assert cli("data", "add", "t", train).exit_code == 0
    assert cli("train", "--data", "t", "--target", "churned", "--register", "m").exit_code == 0
    batch = tmp_path / "batch.csv"
    batch.write_text("age,plan\r\n30,pro\r\n,\r\n41,basic\r\n,\r\n,\r\n", newline="")
    out = tmp_path / "out.csv"
    scored = cli("predict", "m@1", "--input", batch, "--output", out, "--chunk-rows", 2)
    assert scored.exit_code == 0, scored.stderr
    assert "scored=2 rejected=0" in scored.stdout
    assert scored.stderr.count("skipped 3 empty rows") == 1
    assert [line.split(",")[:2] for line in out.read_text().splitlines()[1:]] == [
        ["30", "pro"],
        ["41", "basic"],
    ]
    assert not (tmp_path / "out.rejects.csv").exists()


def test_a_streamed_add_leaves_empty_rows_out_as_the_whole_file_reader_does(
    workspace: Workspace,
    tmp_path: Path,
    stream_small_files: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = numeric_csv(tmp_path / "numbers.csv", rows=3000, tail=",,,,,\n,,,,,\n")
    with monkeypatch.context() as patched:  # the streamed path, not the whole-file reader
        patched.setattr(datasets, "read_arrow", None)
        result = add_version(workspace.store, workspace.artifacts, name="n", path=path, actor="t")
    assert result.version.row_count == 3000
    assert result.notes == (f"{path}: skipped 2 empty rows (no value between the separators)",)
    assert len(read_arrow(path)) == 3000  # the whole-file reader, and so training, agrees


# Rows 1-2 are kept, 3-4 are empty, 5 breaks the allowed set, 6 has no plan: numbered as in
# the file (1 is the first row after the header), the empty rows counted though left out.
BROKEN = "age,plan,churned\r\n30,pro,no\r\n31,basic,yes\r\n,,\r\n,,\r\n32,gold,no\r\n33,,yes\r\n"


def test_validate_numbers_rows_as_the_file_does_past_empty_rows(cli: Any, tmp_path: Path) -> None:
    train, path = tmp_path / "export.csv", tmp_path / "broken.csv"
    train.write_text(EXCEL, newline="")
    path.write_text(BROKEN, newline="")
    assert cli("data", "add", "export", train).exit_code == 0

    checked = cli("data", "validate", "export", path, "--json")
    assert checked.exit_code == 1, checked.stderr
    report = json.loads(checked.stdout)
    found = {v["rule"]: (v["examples"], v["values"]) for v in report["violations"]}
    assert found == {"allowed": ([5], ["gold"]), "nullable": ([6], [None])}
    assert (report["rows_checked"], report["empty_rows"]) == (4, 2)

    refused = cli("data", "add", "export", path, "--validate", "--json")
    assert refused.exit_code == 1
    listed = json.loads(refused.stdout)["violations"]
    assert {v["rule"]: v["examples"] for v in listed} == {"allowed": [5], "nullable": [6]}


def test_predict_rejects_are_numbered_as_the_file_past_empty_rows(cli: Any, tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text(EXCEL, newline="")
    assert cli("data", "add", "t", train).exit_code == 0
    assert cli("train", "--data", "t", "--target", "churned", "--register", "m").exit_code == 0
    batch = tmp_path / "batch.csv"
    batch.write_text(
        "age,plan\r\n30,pro\r\n,\r\n,\r\n41,\r\n52,gold\r\n,\r\n60,basic\r\n", newline=""
    )
    out = tmp_path / "out.csv"
    for chunk_rows in (1, 2, 100):  # the empty rows fall inside chunks and between them
        scored = cli(
            "predict", "m@1", "--input", batch, "--output", out, "--chunk-rows", chunk_rows
        )
        assert scored.exit_code == 1, scored.stderr
        assert "scored=2 rejected=2" in scored.stdout
        rejects = (tmp_path / "out.rejects.csv").read_text().splitlines()[1:]
        assert [line.split(",")[:3] for line in rejects] == [
            ["4", "plan", "nullable"],
            ["5", "plan", "allowed"],
        ]
        assert "skipped 3 empty rows" in scored.stderr
        assert "the output has no row for them" in scored.stderr
        assert [line.split(",")[:2] for line in out.read_text().splitlines()[1:]] == [
            ["30", "pro"],
            ["60", "basic"],
        ]


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_empty_rows_map_kept_rows_back_to_the_rows_read(size: int) -> None:
    """Runs of empty rows at the start, in the middle, across batches and at the end."""
    empty = [True, True, False, True, False, False, True, True, True, False, True]
    column = pa.array([None if e else i for i, e in enumerate(empty)], pa.int64())
    rows = EmptyRows()
    kept = []
    for start in range(0, len(empty), size):
        batch = pa.record_batch([column[start : start + size]], names=["n"])
        kept.extend(rows.drop(batch).column(0).to_pylist())
    assert rows.count == sum(empty)
    numbers = np.arange(1, len(kept) + 1)
    assert rows.in_file(numbers).tolist() == [n + 1 for n in kept]


def test_train_numbers_its_input_rows_as_the_file_added(cli: Any, tmp_path: Path) -> None:
    """Rows 3-4 are empty and rows 2 and 6 have no label (left out of training): the new plan
    on rows 5 and 7 is named so, not as the 2nd and 3rd rows trained on."""
    first, second = tmp_path / "export.csv", tmp_path / "next.csv"
    first.write_text(EXCEL, newline="")
    tail = "".join(
        f"{40 + i},{'pro' if i % 3 else 'basic'},{'yes' if i % 2 else 'no'}\n" for i in range(20)
    )
    second.write_text(
        "age,plan,churned\n30,pro,no\n31,basic,\n,,\n,,\n32,gold,yes\n33,pro,?\n34,gold,no\n" + tail
    )
    assert cli("data", "add", "export", first).exit_code == 0
    assert cli("data", "add", "export", second).exit_code == 0  # the rules stay the first's

    trained = cli("train", "--data", "export@2", "--target", "churned", "--json")
    assert trained.exit_code == 0, trained.stderr
    report = json.loads(trained.stdout)["input_validation"]
    assert {v["rule"]: (v["examples"], v["values"]) for v in report["violations"]} == {
        "allowed": ([5, 7], ["gold", "gold"])
    }
    assert (report["rows_checked"], report["empty_rows"]) == (23, 2)
