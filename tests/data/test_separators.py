"""Tables separated by spaces, and compressed ones: read as the columns they hold, the separator
recorded so every later read of the snapshot splits the same way, and a file that still reads as
one column while looking wider is named with the ``--sep`` to try."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sklearn

import mloop
from mloop.data.datasets import add_version, load_frame
from mloop.workspace import Workspace

DIABETES_COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _diabetes_text() -> bytes:
    """scikit-learn's bundled raw diabetes table (space-separated, no header) with its names."""
    raw = Path(os.path.dirname(sklearn.__file__)) / "datasets" / "data" / "diabetes_data_raw.csv.gz"
    return " ".join(DIABETES_COLUMNS).encode() + b"\n" + gzip.decompress(raw.read_bytes())


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as stream:
        stream.write(data)
    return bytes(sink.getvalue().to_pybytes())


COMPRESSIONS = {
    "plain": lambda data: data,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": _zstd,
}


@pytest.mark.parametrize("compression", list(COMPRESSIONS))
def test_space_separated_diabetes_reads_as_its_ten_numeric_columns(
    workspace: Workspace, tmp_path: Path, compression: str
) -> None:
    path = tmp_path / f"diabetes.{compression}"
    path.write_bytes(COMPRESSIONS[compression](_diabetes_text()))
    version = add_version(
        workspace.store, workspace.artifacts, name="diabetes", path=path, actor="t"
    ).version
    assert (version.row_count, version.column_count) == (442, 10)
    assert version.schema.names() == DIABETES_COLUMNS
    assert {c.type for c in version.schema.columns} <= {"integer", "float"}
    assert version.format == "csv sep=space"
    frame = load_frame(workspace.store, workspace.artifacts, version)
    assert frame.shape == (442, 10) and frame["age"].iloc[0] == 59


def test_aligned_columns_with_leading_spaces_read_as_columns(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "spector.dat"
    path.write_text(
        "  OBS    GPA   TUCE   PSI  GRADE\n"
        "    1   2.66     20     0      0\n"
        "    2   2.89     22     0      0\n"
        "   10   3.92     29     0      1\n"
    )
    version = add_version(workspace.store, workspace.artifacts, name="s", path=path, actor="t")
    frame = load_frame(workspace.store, workspace.artifacts, version.version)
    assert list(frame.columns) == ["OBS", "GPA", "TUCE", "PSI", "GRADE"]
    assert frame["GPA"].tolist() == [2.66, 2.89, 3.92]


def test_a_given_separator_is_recorded_so_later_reads_agree(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Two single-spaced columns are too little to sniff ("full name" may be one column)...
    path = tmp_path / "pairs.txt"
    path.write_text("a b\n1 2\n3 4\n")
    version = mloop.add_dataset("pairs", path, sep=" ", workspace=workspace)
    assert version.column_count == 2
    # ...so the snapshot must be read back with the separator it was added with.
    assert mloop.load_dataset("pairs@1", workspace=workspace).to_dict("list") == {
        "a": [1, 3],
        "b": [2, 4],
    }


def test_a_file_that_reads_as_one_wide_looking_column_warns_with_the_sep_to_try(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "ragged.txt"
    path.write_text("x y z\n1 2 3\n4 5\n")  # not one width throughout: not sniffed as spaces
    result = cli("data", "add", "r", path)
    assert result.exit_code == 0, result.stderr
    assert "columns=1" in result.stdout
    assert "read as one column" in result.stderr and "--sep 'space'" in result.stderr


def test_a_one_column_file_with_a_two_word_header_stays_one_column_quietly(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "names.csv"
    path.write_text("full name\nAda Lovelace\nAlan Turing\n")
    result = cli("data", "add", "names", path)
    assert result.exit_code == 0 and "columns=1" in result.stdout
    assert "warning" not in result.stderr


def test_sep_on_the_command_line_reads_a_semicolon_file_with_commas_in_the_header(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("name, first;price\nx;1\ny;2\n")  # the header has more commas than ;
    result = cli("data", "add", "eu", path, "--sep", ";", "--json")
    assert result.exit_code == 0, result.stderr
    assert '"columns": 2' in result.stdout


def test_the_same_bytes_with_another_separator_are_refused_not_called_unchanged(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("a b\n1 2\n3 4\n")
    assert cli("data", "add", "p", path).exit_code == 0
    again = cli("data", "add", "p", path, "--sep", "space")
    assert again.exit_code == 2 and "new dataset name" in again.stderr
    assert cli("data", "add", "p", path, "--sep", ",").exit_code == 0, "the same reading: unchanged"


@pytest.mark.parametrize("sep", ["ab", "", "\n"])
def test_a_separator_that_is_not_one_character_is_one_sentence(
    cli: Any, tmp_path: Path, sep: str
) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n")
    result = cli("data", "add", "d", path, "--sep", sep)
    assert result.exit_code == 2 and "is not a separator" in result.stderr


def test_a_damaged_xz_file_is_named_as_such_not_as_binary(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "d.csv.xz"
    path.write_bytes(lzma.compress(b"a,b\n1,2\n" * 500)[:40])
    result = cli("data", "add", "d", path)
    assert result.exit_code == 2 and "damaged xz" in result.stderr, result.stderr


def test_a_file_without_a_header_line_warns_that_its_first_row_became_the_names(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("59,2,32.1,101.0\n48,1,21.6,87.0\n72,2,30.5,93.0\n")
    result = cli("data", "add", "raw", path)
    assert result.exit_code == 0, result.stderr
    assert "rows=2" in result.stdout
    assert "looks like data, not column names" in result.stderr


def test_whole_number_headers_such_as_years_add_quietly(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "pivot.csv"
    path.write_text("2019,2020,2021\n1.5,2.5,3.5\n")
    result = cli("data", "add", "pivot", path)
    assert result.exit_code == 0, result.stderr
    assert "looks like data" not in result.stderr
