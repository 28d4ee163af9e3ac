"""``mloop predict`` over a folder of Parquet files: locally, and through Ray Data with the
same outputs, reject rows, counts and job record."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.batch.conftest import to_score

SIZES = (300, 250, 450)


def _folder(tmp_path: Path) -> Path:
    """Three part files; rows 8 and 610 (of the whole folder) miss a required value."""
    folder = tmp_path / "customers"
    folder.mkdir()
    frame = to_score(sum(SIZES))
    frame.loc[[7, 609], "contract"] = None
    start = 0
    for index, size in enumerate(SIZES):
        frame.iloc[start : start + size].to_parquet(
            folder / f"part-{index:04d}.parquet", index=False
        )
        start += size
    (folder / "_SUCCESS").write_text("")  # what Spark leaves beside its parts
    return folder


def _predict(cli: Any, model: str, folder: Path, out: Path) -> dict[str, Any]:
    result = cli("predict", model, "-i", folder, "-o", out, "--chunk-rows", 128, "--json")
    assert result.exit_code == 1 and result.stdout, result.stderr  # two rows rejected
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def test_a_folder_is_scored_as_one_table_in_file_order(
    cli: Any, churn_model: str, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    out = tmp_path / "scored.parquet"
    summary = _predict(cli, churn_model, folder, out)
    assert (summary["rows_read"], summary["rows_scored"], summary["rows_rejected"]) == (
        1000,
        998,
        2,
    )
    scored = pq.read_table(out).to_pandas()
    parts = [pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))]
    given = pd.concat(parts, ignore_index=True).drop(index=[7, 609]).reset_index(drop=True)
    pd.testing.assert_frame_equal(scored[given.columns], given, check_dtype=False)
    rejects = pd.read_csv(summary["rejects"])
    assert rejects["row"].tolist() == [8, 610] and set(rejects["column"]) == {"contract"}
    job = json.loads(cli("jobs", "show", summary["job"], "--json").stdout)
    assert job["inputs"]["files"] == 3 and job["params"]["executor"] == "local"


def test_a_folder_with_mismatched_files_or_the_output_inside_is_refused(
    cli: Any, churn_model: str, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    inside = cli("predict", churn_model, "-i", folder, "-o", folder / "scored.parquet")
    assert inside.exit_code == 2 and "outside the input folder" in inside.stderr
    to_score(5).drop(columns=["region"]).to_parquet(folder / "part-9999.parquet", index=False)
    mixed = cli("predict", churn_model, "-i", folder, "-o", tmp_path / "scored.parquet")
    assert mixed.exit_code == 2 and "share one schema" in mixed.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = cli("predict", churn_model, "-i", empty, "-o", tmp_path / "scored.parquet")
    assert none.exit_code == 2 and "without Parquet files" in none.stderr


def test_ray_data_scores_a_folder_exactly_as_the_local_path(
    cli: Any,
    churn_model: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store_url: str,
) -> None:
    pytest.importorskip("ray", reason="the Ray tests need mloop[ray]")
    if not store_url.startswith("sqlite"):
        pytest.skip("one Ray start is enough: the store is not what this test is about")
    folder = _folder(tmp_path)
    local = _predict(cli, churn_model, folder, tmp_path / "local.parquet")
    with (Path.cwd() / "mloop.toml").open("a") as config:
        config.write("\n[executor]\nmax_workers = 2\n")
    monkeypatch.setenv("MLOOP_EXECUTOR", "ray")
    ray = _predict(cli, churn_model, folder, tmp_path / "ray.parquet")

    assert pq.read_table(tmp_path / "ray.parquet").equals(pq.read_table(tmp_path / "local.parquet"))
    assert Path(ray["rejects"]).read_bytes() == Path(local["rejects"]).read_bytes()
    same = ("rows_read", "rows_scored", "rows_rejected", "warnings", "input_hash", "model")
    assert {k: ray[k] for k in same} == {k: local[k] for k in same}
    jobs = [json.loads(cli("jobs", "show", s["job"], "--json").stdout) for s in (local, ray)]
    assert [j["params"]["executor"] for j in jobs] == ["local", "ray"]
    for key in ("status", "counts", "inputs", "model"):
        assert jobs[0][key] == jobs[1][key], key
    import ray as ray_module

    assert not ray_module.is_initialized()  # the command stopped the Ray it started


def test_a_refused_folder_command_never_starts_ray(
    cli: Any,
    churn_model: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store_url: str,
    request: pytest.FixtureRequest,
) -> None:
    """Bad paths, an unknown model and mismatched columns are refused as fast as without Ray:
    the private Ray, and its seconds of start-up, come only once every check has passed."""
    pytest.importorskip("ray", reason="the Ray tests need mloop[ray]")
    if not store_url.startswith("sqlite"):
        pytest.skip("one Ray start is enough: the store is not what this test is about")
    folder = _folder(tmp_path)
    # where a Ray started by the command keeps its session: a short path (Ray's sockets live
    # there, and a socket's path is limited to 107 bytes)
    ray_files = Path(tempfile.mkdtemp(prefix="mloop-", dir="/tmp")) / "ray"
    request.addfinalizer(lambda: shutil.rmtree(ray_files.parent, ignore_errors=True))
    monkeypatch.setenv("RAY_TMPDIR", str(ray_files))
    monkeypatch.setenv("MLOOP_EXECUTOR", "ray")
    refused = {
        "needs a file name ending": (churn_model, tmp_path / "scored"),
        "outside the input folder": (churn_model, folder / "scored.parquet"),
        "has no version 9": ("churn@9", tmp_path / "scored.parquet"),
    }
    for message, (model, out) in refused.items():
        result = cli("predict", model, "-i", folder, "-o", out)
        assert result.exit_code == 2 and message in result.stderr, (message, result.stderr)
        assert not ray_files.exists(), message
    to_score(5).drop(columns=["region"]).to_parquet(tmp_path / "other.parquet", index=False)
    other = tmp_path / "other"
    other.mkdir()
    (tmp_path / "other.parquet").rename(other / "part-0.parquet")
    missing = cli("predict", churn_model, "-i", other, "-o", tmp_path / "scored.parquet")
    assert missing.exit_code == 2 and "region" in missing.stderr, missing.stderr
    assert not ray_files.exists()
    scored = cli("predict", churn_model, "-i", folder, "-o", tmp_path / "scored.parquet")
    assert scored.exit_code == 1, scored.stderr  # two rows rejected: scored through Ray
    assert ray_files.exists()  # the check above would have seen a Ray start
