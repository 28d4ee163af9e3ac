"""A big CSV is added in one streamed pass: the same version as the whole-file reader gives.

The size from which a file is streamed and the block size are lowered here so a small file takes
the streaming path in several batches; everything else is the real code on real files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from mloop.data import csv_stream, datasets, streaming
from mloop.data import profile as profile_module
from mloop.data.datasets import add_version, load_frame
from mloop.data.io import read_arrow, read_table
from mloop.data.profile import DatasetProfile
from mloop.errors import InvalidInput
from mloop.hashing import hash_file
from mloop.workspace import Workspace
from tests.data.test_pinned_profiles import check_against_the_frame

ROWS = 30_000


@pytest.fixture
def stream_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming, "STREAM_FROM", 1)
    monkeypatch.setattr(datasets, "STREAM_FROM", 1)  # hashed up front only when it may be known
    monkeypatch.setattr(csv_stream, "BLOCK_BYTES", 64 << 10)  # ~10 batches


def numeric_csv(path: Path, *, rows: int = ROWS, tail: str = "") -> Path:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, rows + 1),
            "amount": np.round(rng.lognormal(3, 1, rows), 2),
            "count": rng.poisson(3, rows),
            "ratio": np.where(rng.random(rows) < 0.05, np.nan, rng.normal(0, 1, rows)),
            "flag": rng.random(rows) < 0.3,
            "when": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(rows), unit="min"),
        }
    )
    frame.to_csv(path, index=False)
    if tail:
        with path.open("a") as handle:
            handle.write(tail)
    return path


def _add(workspace: Workspace, name: str, path: Path) -> tuple[dict, dict, int]:  # type: ignore[type-arg]
    version = add_version(
        workspace.store, workspace.artifacts, name=name, path=path, actor="t"
    ).version
    return version.schema.to_json(), version.profile, version.row_count


def test_a_streamed_add_stores_what_the_whole_file_reader_infers(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = numeric_csv(tmp_path / "numbers.csv")
    whole_schema, _, _ = _add(workspace, "whole", path)
    monkeypatch.setattr(streaming, "STREAM_FROM", 1)
    monkeypatch.setattr(csv_stream, "BLOCK_BYTES", 64 << 10)
    copy = tmp_path / "numbers-copy.csv"
    copy.write_bytes(path.read_bytes() + b"")  # same bytes, another dataset
    schema, profile, rows = _add(workspace, "streamed", copy)
    assert schema == whole_schema
    assert rows == ROWS
    frame = read_table(path)
    check_against_the_frame(profile, frame, "streamed")
    assert schema["columns"][0]["unique"] is True  # the id column, counted across batches
    assert profile["columns"]["id"]["distinct"] == ROWS


def test_the_streamed_snapshot_is_the_file_byte_for_byte(
    workspace: Workspace, tmp_path: Path, stream_small_files: None
) -> None:
    path = numeric_csv(tmp_path / "numbers.csv")
    result = add_version(workspace.store, workspace.artifacts, name="n", path=path, actor="t")
    assert result.version.content_hash == hash_file(path)
    stored = workspace.artifacts.local_path(result.version.content_hash)
    assert stored.read_bytes() == path.read_bytes()
    assert len(load_frame(workspace.store, workspace.artifacts, result.version)) == ROWS


def test_a_later_block_that_changes_a_type_falls_back_to_the_whole_file(
    workspace: Workspace, tmp_path: Path, stream_small_files: None
) -> None:
    """The first blocks say integers; a value near the end is a fraction: the column is float."""
    path = numeric_csv(tmp_path / "late.csv", tail="30001,1.5,2.5,0.1,False,2026-02-01 00:00:00\n")
    schema, profile, rows = _add(workspace, "late", path)
    types = {c["name"]: c["type"] for c in schema["columns"]}
    assert types["count"] == "float"
    assert rows == ROWS + 1
    check_against_the_frame(profile, read_table(path), "late")


def test_text_columns_take_the_whole_file_reader(
    workspace: Workspace, tmp_path: Path, stream_small_files: None
) -> None:
    path = tmp_path / "text.csv"
    rows = ["region,amount"] + [f"{'North' if i % 2 else ' north'},{i}.5" for i in range(5000)]
    path.write_text("\n".join(rows) + "\n")
    schema, profile, _ = _add(workspace, "text", path)
    assert [c["type"] for c in schema["columns"]] == ["categorical", "float"]
    assert profile["columns"]["region"]["categories"] == {"north": 5000}


def test_a_streamed_profile_is_json_and_merges_with_a_window(
    workspace: Workspace,
    tmp_path: Path,
    stream_small_files: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(profile_module, "SKETCH_VALUES", 5_000)
    _, stored, _ = _add(workspace, "n", numeric_csv(tmp_path / "numbers.csv"))
    reference = DatasetProfile.from_json(json.loads(json.dumps(stored)))
    sketch = stored["columns"]["amount"]["sketch"]
    assert sketch["sample_rate"] < 1.0  # the file is "big" here: its sketches were fed a sample
    assert sketch["sketched"] < ROWS
    # The quantiles of a sampled sketch are still within the rank error it states.
    check_against_the_frame(stored, read_table(tmp_path / "numbers.csv"), "sampled")
    window = reference.like()
    window.update(read_arrow(numeric_csv(tmp_path / "window.csv", rows=500)))
    merged = reference.merge(window)
    assert merged.rows == ROWS + 500
    assert merged.columns["amount"].count == reference.columns["amount"].count + 500


def test_a_bad_byte_late_in_a_streamed_file_is_one_sentence_and_stores_nothing(
    workspace: Workspace, tmp_path: Path, stream_small_files: None
) -> None:
    path = numeric_csv(tmp_path / "mixed.csv")
    with path.open("ab") as handle:  # a UTF-8 "é", then a latin-1 one: no one reading fits both
        handle.write(b"30001,1\xc3\xa9,2,0.1,False,2026-02-01 00:00:00\n")
        handle.write(b"30002,1\xe9,2,0.1,False,2026-02-01 00:00:00\n")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        add_version(workspace.store, workspace.artifacts, name="bad", path=path, actor="t")
    assert list(workspace.artifacts.hashes()) == []


def test_quoted_names_and_values_are_cut_between_rows_never_inside_one(
    workspace: Workspace, tmp_path: Path, stream_small_files: None
) -> None:
    """A quoted header with a line break and a comma, every number quoted, CRLF line ends:
    the blocks are cut at row ends only, so the streamed version is the whole-file reader's."""
    plain = numeric_csv(tmp_path / "plain.csv")
    frame = pd.read_csv(plain)
    frame.columns = ["id", "amount,\nin EUR", *frame.columns[2:]]
    path = tmp_path / "quoted.csv"
    frame.to_csv(path, index=False, quoting=1, lineterminator="\r\n")  # QUOTE_ALL
    assert path.read_bytes().count(b'"') > ROWS
    schema, profile, rows = _add(workspace, "quoted", path)
    assert rows == ROWS
    assert [c["name"] for c in schema["columns"]][:2] == ["id", "amount,\nin EUR"]
    check_against_the_frame(profile, read_table(path), "quoted")


def test_blocks_hold_whole_rows_whatever_the_quotes_and_line_ends(tmp_path: Path) -> None:
    for newline in ("\n", "\r\n", "\r"):
        note = f'two{newline}lines, one "" quote'
        rows = ['"a","b"'] + [f'{i},"{note if i % 7 == 0 else i}"' for i in range(2000)]
        data = (newline.join(rows) + newline).encode()
        path = tmp_path / "rows.csv"
        path.write_bytes(data)
        whole = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True))
        for size in (7, 100, 4096):
            seen: list[bytes] = []
            with path.open("rb", buffering=0) as source:
                blocks = [bytes(b) for b in csv_stream._line_blocks(source, seen.append, size)]
            assert b"".join(seen) == data and b"".join(blocks) == data, (newline, size)
            parse = pacsv.ParseOptions(newlines_in_values=True)
            names = pacsv.ReadOptions(column_names=whole.column_names)
            types = pacsv.ConvertOptions(
                column_types=dict(zip(whole.schema.names, whole.schema.types, strict=True))
            )
            header = pacsv.ReadOptions()
            parts = [
                pacsv.read_csv(
                    pa.py_buffer(b),
                    read_options=names if i else header,
                    parse_options=parse,
                    convert_options=types,
                )
                for i, b in enumerate(blocks)
            ]
            parsed = [row for part in parts for row in part.to_pylist()]
            assert parsed == whole.to_pylist(), (newline, size)


def test_the_same_big_bytes_again_are_the_same_version_and_same_size_bytes_are_not(
    workspace: Workspace, tmp_path: Path, stream_small_files: None
) -> None:
    path = numeric_csv(tmp_path / "numbers.csv")
    first = add_version(workspace.store, workspace.artifacts, name="n", path=path, actor="t")
    again = add_version(workspace.store, workspace.artifacts, name="n", path=path, actor="t")
    assert first.created and not again.created and again.version.ref == "n@1"
    data = bytearray(path.read_bytes())
    data[-3:-1] = b"12" if data[-3:-1] != b"12" else b"13"  # same size, other bytes
    path.write_bytes(bytes(data))
    changed = add_version(workspace.store, workspace.artifacts, name="n", path=path, actor="t")
    assert changed.created and changed.version.ref == "n@2"
    assert changed.version.content_hash == hash_file(path)
