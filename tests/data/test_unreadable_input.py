"""Files that are not tables: exit 2, one sentence, no traceback, nothing written."""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mloop.store import tables as t
from mloop.workspace import Workspace

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _missing(tmp: Path) -> Path:
    return tmp / "nope.csv"


def _folder(tmp: Path) -> Path:
    (tmp / "dir.csv").mkdir()
    return tmp / "dir.csv"


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing", _missing, "does not exist"),
    ("folder", _folder, "is a folder"),
    ("empty", _write("empty.csv", b""), "is empty"),
    ("blank", _write("blank.csv", b"\n\n  \n"), "is empty"),
    ("png", _write("image.csv", PNG), "is a PNG image"),
    ("damaged gzip", _write("d.csv.gz", gzip.compress(b"a,b\n1,2\n" * 99)[:25]), "damaged gzip"),
    ("gzip'd PNG", _write("image.csv.gz", gzip.compress(PNG)), "is a PNG image"),
    ("json", _write("rows.json", b'  [{"a": 1}, {"a": 2}]'), "looks like JSON"),
    ("binary", _write("blob.bin", b"abc\x00\x01\x02" * 50), "binary file"),
    (
        "UTF-8 and latin-1 mixed",
        _write("mixed.csv", "name,city\nJosé,1\n".encode() + "Zürich,2\n".encode("latin-1")),
        "is not UTF-8",
    ),
    ("ragged", _write("ragged.csv", b"a,b\n1,2\n3,4,5\n"), "different number of fields"),
    (
        "title above the header",
        _write("report.csv", b"Sales report 2024\n\nregion,amount\nEast,1\n"),
        "delete those lines so the header is the first line",
    ),
    ("duplicate header", _write("dup.csv", b"a,a\n1,2\n"), "two columns named 'a'"),
    ("broken parquet", _write("bad.parquet", b"PAR1" + b"\x00garbage" * 10), "cannot be read"),
    ("header only", _write("header.csv", b"a,b,c\n"), "has a header but no data rows"),
    ("header, no newline", _write("header1.csv", b"a,b,c"), "has a header but no data rows"),
    (
        "html page",
        _write("export.csv", b"\n<!DOCTYPE html>\n<html><body>404</body></html>\n"),
        "HTML",
    ),
    ("xml", _write("feed.csv", b'<?xml version="1.0"?>\n<rows><r a="1"/></rows>\n'), "XML"),
    ("utf-16, no BOM", _write("u16.csv", "name,n\nJos\u00e9,1\n".encode("utf-16-le")), "UTF-16"),
    ("bare CR in a field", _write("cr.csv", b"a,b,c\n1,x\ry,2\n"), "quote"),
]


def _zipped(*members: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in members:
            archive.writestr(name, "a,b\n1,2\n")
    return buffer.getvalue()


CASES += [
    ("zip of a csv", _write("titanic.zip", _zipped("titanic.csv")), "holding titanic.csv"),
    ("zip as .csv", _write("t.csv", _zipped("a.csv", "b.csv")), "holding a.csv and 1 more"),
    (
        "xlsx",
        _write("book.xlsx", _zipped("[Content_Types].xml", "xl/workbook.xml")),
        "Excel workbook",
    ),
    ("zip of images", _write("imgs.zip", _zipped("a.png")), "is a ZIP archive"),
]


def _state(workspace: Workspace) -> tuple[int, int, int]:
    with workspace.store.read() as conn:
        versions = conn.execute(
            sa.select(sa.func.count()).select_from(t.dataset_versions)
        ).scalar_one()
        datasets = conn.execute(sa.select(sa.func.count()).select_from(t.datasets)).scalar_one()
    return versions, datasets, len(list(workspace.artifacts.hashes()))


@pytest.mark.parametrize(("case", "make", "message"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["add", "validate"])
def test_unreadable_file_is_exit_2_one_sentence_nothing_written(
    cli: Any,
    workspace: Workspace,
    tmp_path: Path,
    case: str,
    make: Callable[[Path], Path],
    message: str,
    command: str,
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("a,b\n1,2\n")
    assert cli("data", "add", "d", good).exit_code == 0
    before = _state(workspace)
    result = cli("data", command, "d", make(tmp_path))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    assert _state(workspace) == before


LEGACY = [
    ("latin-1", "name,city\nJosé,Zürich\nPeña,Logroño\n"),
    ("cp1252", "item,note\nCafé,“special” at €4 – new\nCrème brûlée,déjà vu\n"),
    ("cp1250", "miasto,nazwa\nŁódź,Łódzkie\nKraków,Małopolskie\nGdańsk,Pomorskie\n"),
    ("cp1251", "город,область\nМосква,Московская\nСанкт-Петербург,Ленинградская\n"),
    ("shift_jis", "都市,地方\n東京,関東\n大阪,近畿\n名古屋,中部\n"),
]


@pytest.mark.parametrize(("encoding", "text"), LEGACY, ids=[e for e, _ in LEGACY])
def test_a_table_in_a_legacy_encoding_is_read_as_written(
    workspace: Workspace, tmp_path: Path, encoding: str, text: str
) -> None:
    """Excel on Windows and many public portals still write cp1252, cp1250, cp1251 or
    Shift-JIS: the values come out as written, not as mojibake, and not refused."""
    from mloop.data.datasets import add_version, load_frame

    path = tmp_path / "legacy.csv"
    path.write_bytes(text.encode(encoding))
    version = add_version(
        workspace.store, workspace.artifacts, name="legacy", path=path, actor="t"
    ).version
    frame = load_frame(workspace.store, workspace.artifacts, version)
    lines = text.splitlines()
    assert list(frame.columns) == lines[0].split(",")
    assert frame.astype(str).values.tolist() == [line.split(",") for line in lines[1:]]


def test_utf8_with_bom_and_utf16_are_read(cli: Any, tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffname,n\nJosé,1\n".encode())
    assert cli("data", "add", "bom", bom).exit_code == 0
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes("name,n\nJosé,1\n".encode("utf-16"))
    assert cli("data", "add", "u16", utf16).exit_code == 0
    shown = cli("data", "schema", "bom", "--json")
    assert '"name": "name"' in shown.stdout, "the BOM is not part of the first column's name"


@pytest.mark.parametrize("command", ["add", "validate"])
def test_file_and_name_swapped_says_which_comes_first(
    cli: Any, workspace: Workspace, command: str
) -> None:
    (workspace.root / "churn.csv").write_text("a,b\n1,2\n")
    assert cli("data", "add", "churn", "churn.csv").exit_code == 0
    before = _state(workspace)
    result = cli("data", command, "churn.csv", "churn")
    assert result.exit_code == 2
    assert f"the dataset name comes first: `mloop data {command} churn churn.csv`" in result.stderr
    assert _state(workspace) == before
