"""A CSV written with its index (pandas' ``to_csv()``, R's ``write.csv``) has a blank first
header: that column is read as ``index``, by the whole-file reader and the streamed one. A
Parquet file keeps the index pandas stored in it as a column, as its CSV twin would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mloop.data.chunks import open_chunks
from mloop.data.io import read_table


def _customers(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    return pd.DataFrame(
        {
            "tenure": tenure,
            "plan": rng.choice(["basic", "pro", "team"], rows),
            "churned": np.where(tenure + rng.normal(0, 8, rows) < 20, "yes", "no"),
        }
    )


def test_both_readers_name_the_blank_first_column_index(tmp_path: Path) -> None:
    path = tmp_path / "with_index.csv"
    _customers(50, seed=1).to_csv(path)  # pandas' default: the index first, header blank
    assert path.read_text().startswith(",tenure,plan,churned\n")
    frame = read_table(path)
    assert list(frame.columns) == ["index", "tenure", "plan", "churned"]
    assert frame["index"].tolist() == list(range(50))
    with open_chunks(path, rows=20) as chunks:
        tables = list(chunks)
    assert chunks.schema.names == ["index", "tenure", "plan", "churned"]
    assert [t.column_names for t in tables] == [chunks.schema.names] * 3
    assert sum(t.num_rows for t in tables) == 50


def test_a_name_index_already_taken_gets_a_suffix_and_r_row_names_read_too(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.csv"
    path.write_text('"","index","y"\n"1",10,"a"\n"2",20,"b"\n')
    frame = read_table(path)
    assert list(frame.columns) == ["index_1", "index", "y"]
    assert frame["index"].tolist() == [10, 20]


def test_a_pandas_export_goes_from_data_add_to_predict(cli: Any, tmp_path: Path) -> None:
    train = tmp_path / "customers.csv"
    _customers(400, seed=2).to_csv(train)
    added = cli("data", "add", "customers", train)
    assert added.exit_code == 0, added.stderr
    names = [c["name"] for c in json.loads(cli("data", "schema", "customers").stdout)["columns"]]
    assert names == ["index", "tenure", "plan", "churned"]
    assert cli("data", "validate", "customers", train).exit_code == 0
    trained = cli("train", "--data", "customers", "--target", "churned", "--register", "c")
    assert trained.exit_code == 0, trained.stderr
    batch = tmp_path / "batch.csv"
    _customers(30, seed=3).drop(columns="churned").to_csv(batch)
    scored = cli("predict", "c@1", "--input", batch, "--output", tmp_path / "out.csv")
    assert scored.exit_code == 0, scored.stderr
    assert "scored=30 rejected=0" in scored.stdout


def test_a_parquet_index_is_a_column_and_its_row_numbers_are_not(cli: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=120), "store": rng.choice(["north", "south"], 120)})
    named = tmp_path / "by_store.parquet"
    frame.set_index("store").to_parquet(named)
    filtered = tmp_path / "filtered.parquet"
    frame[frame["x"] > 0].to_parquet(filtered)  # leaves __index_level_0__: row numbers

    assert list(read_table(named).columns) == ["x", "store"]
    assert list(read_table(filtered).columns) == ["x", "store"]
    assert cli("data", "add", "by_store", named).exit_code == 0
    schema = json.loads(cli("data", "schema", "by_store", "--json").stdout)
    assert [c["name"] for c in schema["columns"]] == ["x", "store"]
    trained = cli("train", "--data", "by_store", "--target", "store")
    assert trained.exit_code == 0, trained.stderr


def test_the_streamed_parquet_reader_leaves_out_pandas_row_numbers_too(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [0.5, -1.0, 2.0, 3.0], "y": [1, 0, 1, 0]})
    path = tmp_path / "filtered.parquet"
    frame[frame["x"] > 0].to_parquet(path)
    with open_chunks(path, rows=2) as chunks:
        assert chunks.schema.names == ["x", "y"]
        assert [t.column_names for t in chunks] == [["x", "y"], ["x", "y"]]
