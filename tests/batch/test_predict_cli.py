"""`mloop predict`: a file in, predictions beside its columns out, the job recorded."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.hashing import hash_file
from tests.batch.conftest import to_score


def _summary(stdout: str) -> dict[str, str]:
    line = stdout.strip().splitlines()[-1]
    return dict(part.split("=", 1) for part in line.split())


def test_predict_writes_predictions_beside_the_input_columns(
    cli: Any, churn_model: str, score_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored.csv"
    result = cli("predict", churn_model, "--input", score_csv, "--output", out, "--chunk-rows", 128)
    assert result.exit_code == 0, result.stderr
    summary = _summary(result.stdout)
    assert summary["scored"] == "500" and summary["rejected"] == "0"
    assert "" not in result.stderr.splitlines()  # no bar, nor the blank line it leaves
    assert summary["model"] == "churn@1" and summary["output"] == str(out)

    # "None" is a category of internet_service (no internet), not a missing value, to mloop
    scored = pd.read_csv(out, keep_default_na=False, na_values=[""])
    given = pd.read_csv(score_csv, keep_default_na=False, na_values=[""])
    assert list(scored.columns) == [*given.columns, "prediction", "proba_False", "proba_True"]
    pd.testing.assert_frame_equal(scored[given.columns], given)  # input columns as they were
    model = mloop.load_model(churn_model, workspace=Path.cwd())
    assert scored["prediction"].tolist() == model.predict(given).tolist()
    np.testing.assert_allclose(
        scored[["proba_False", "proba_True"]].to_numpy(), model.predict_proba(given), rtol=1e-12
    )
    assert not (tmp_path / "scored.rejects.csv").exists()  # nothing rejected, nothing written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    job = json.loads(cli("jobs", "show", summary["job"], "--json").stdout)
    assert job["kind"] == "predict" and job["status"] == "succeeded" and job["model"] == "churn@1"
    assert job["params"]["chunk_rows"] == 128
    assert job["inputs"]["hash"] == f"blake3:{hash_file(score_csv)}"
    assert job["outputs"]["hash"] == f"blake3:{hash_file(out)}"
    assert job["counts"]["rows_read"] == 500 and job["counts"]["rows_rejected"] == 0
    assert job["ended_at"] >= job["started_at"] and job["error"] is None


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_csv_output_carries_the_input_cells_as_a_csv_writer_writes_them(
    cli: Any, churn_model: str, tmp_path: Path, suffix: str
) -> None:
    """Arrow's CSV writer quoted every text cell, so a CSV's ``3`` came out as ``"3"``: the
    input columns of a scored CSV must be the user's cells, quoted only where CSV needs it."""
    frame = to_score(40)
    frame.loc[[3, 20], "support_calls"] = pd.NA  # an integer column the model reads, with gaps
    frame["note"] = "plain"
    frame.loc[1, "note"] = 'says "call me", twice'
    source, out = tmp_path / f"in{suffix}", tmp_path / "out.csv"
    if suffix == ".csv":
        frame.to_csv(source, index=False, date_format="%Y-%m-%d")
    else:
        frame.to_parquet(source, index=False)  # support_calls: int64 with nulls
    result = cli("predict", churn_model, "-i", source, "-o", out, "--chunk-rows", 16)
    assert result.exit_code == 0, result.stderr

    lines = out.read_text().splitlines()
    assert lines[0].startswith("customer_id,signup_date,tenure_months,")  # no quotes
    assert lines[1].startswith(f"{frame.loc[0, 'customer_id']},")
    assert ',"says ""call me"", twice",' in lines[2]  # quoted because it must be
    if suffix == ".csv":  # each input line is copied as it was, predictions after it
        given = source.read_text().splitlines()
        assert [line[: len(g) + 1] for line, g in zip(lines, given, strict=True)] == [
            g + "," for g in given
        ]
    with out.open(newline="") as handle:
        cells = list(csv.DictReader(handle))
    assert [row["support_calls"] for row in cells] == [
        "" if pd.isna(v) else str(v) for v in frame["support_calls"]
    ]
    assert cells[3]["support_calls"] == "" and cells[0]["support_calls"].isdigit()
    assert [row["tenure_months"] for row in cells] == [str(v) for v in frame["tenure_months"]]
    assert [row["note"] for row in cells] == frame["note"].tolist()
    assert [row["customer_id"] for row in cells] == frame["customer_id"].tolist()


def test_rows_that_break_the_rules_are_left_out_and_listed_with_reasons(
    cli: Any, churn_model: str, tmp_path: Path
) -> None:
    frame = to_score(300).astype({"tenure_months": object, "monthly_charges": object})
    frame.loc[4, "tenure_months"] = "soon"  # not a number
    frame.loc[150, "contract"] = "Lifetime"  # not an allowed category
    frame.loc[151, "monthly_charges"] = -5.0  # below the minimum
    frame.loc[299, "contract"] = None  # required value missing
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    out, rejects = tmp_path / "out.parquet", tmp_path / "bad.csv"

    result = cli(
        "predict", churn_model, "-i", source, "-o", out, "--rejects", rejects, "--chunk-rows", 100
    )
    assert result.exit_code == 1, result.stderr
    assert _summary(result.stdout)["rejected"] == "4"

    scored = pd.read_parquet(out)
    assert len(scored) == 296
    assert not scored["customer_id"].isin(frame.loc[[4, 150, 151, 299], "customer_id"]).any()
    assert scored["tenure_months"].dtype == "int64"  # the model's columns typed for Parquet
    listed = pd.read_csv(rejects, keep_default_na=False)
    assert list(listed.columns) == ["row", "column", "rule", "value", "message"]
    assert listed[["row", "column", "rule", "value"]].values.tolist() == [
        [5, "tenure_months", "type", "soon"],  # row numbers count data rows from 1
        [151, "contract", "allowed", "Lifetime"],
        [152, "monthly_charges", "min", "-5.0"],
        [300, "contract", "nullable", ""],
    ]
    assert all(listed["message"].str.len() > 10)

    jobs = json.loads(cli("jobs", "ls", "--json").stdout)
    assert jobs[0]["counts"]["rows_rejected"] == 4
    assert jobs[0]["outputs"]["rejects_hash"] == f"blake3:{hash_file(rejects)}"


def test_parquet_and_compressed_files_and_an_alias(
    cli: Any, churn_model: str, tmp_path: Path
) -> None:
    assert cli("models", "promote", "churn", "1", "--to", "champion").exit_code == 0
    frame = to_score(200)
    source = tmp_path / "in.parquet"
    frame.to_parquet(source, index=False)
    out = tmp_path / "out.csv.gz"
    result = cli("predict", "churn@champion", "--input", source, "--output", out, "--json")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == "churn@1" and answer["rows_scored"] == 200
    scored = pd.read_csv(out)
    assert len(scored) == 200 and scored["customer_id"].tolist() == frame["customer_id"].tolist()

    gz = tmp_path / "in.csv.gz"
    frame.to_csv(gz, index=False)  # gzip by its magic bytes, whatever the name
    tsv = tmp_path / "out.tsv"
    assert cli("predict", "churn@1", "-i", gz, "-o", tsv).exit_code == 0
    assert pd.read_csv(tsv, sep="\t")["prediction"].tolist() == scored["prediction"].tolist()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("nope@1", "in.csv", "out.csv"), "No model named 'nope'"),
        (("churn@7", "in.csv", "out.csv"), "no version 7"),
        (("churn@1", "missing.csv", "out.csv"), "does not exist"),
        (("churn@1", "in.csv", "out.txt"), "needs a file name ending in"),
        (("churn@1", "in.csv", "in.csv"), "never writes over its input"),
        (("churn@1", "no-contract.csv", "out.csv"), "has no column 'contract'"),
        # another file than meant: its own columns, not the model's twice over
        (("churn@1", "other.csv", "out.csv"), "reads (tenure_months, "),
        (("churn@1", "other.csv", "out.csv"), "; its columns are: area, amount."),
        (("churn@1", "picture.csv", "out.csv"), "PNG image"),
        (("churn@1", "in.csv", "nowhere/out.csv"), "does not exist; create it first"),
    ],
)
def test_bad_input_exits_2_with_one_sentence_and_writes_nothing(
    cli: Any, churn_model: str, tmp_path: Path, args: tuple[str, str, str], says: str
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    to_score(20).to_csv(folder / "in.csv", index=False)
    to_score(20).drop(columns=["contract"]).to_csv(folder / "no-contract.csv", index=False)
    (folder / "other.csv").write_text("area,amount\nEast,1.5\n")
    (folder / "picture.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    before = sorted(p.name for p in folder.iterdir())
    model, source, out = args
    result = cli("predict", model, "--input", folder / source, "--output", folder / out)
    assert result.exit_code == 2
    assert says in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert sorted(p.name for p in folder.iterdir()) == before
    assert json.loads(cli("jobs", "ls", "--json").stdout) == []


def test_a_file_that_breaks_midway_leaves_no_output_and_a_failed_job(
    cli: Any, churn_model: str, tmp_path: Path
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    source = folder / "in.csv"
    to_score(60_000).to_csv(source, index=False)  # several of the reader's 4 MB blocks
    with source.open("a") as handle:
        handle.write("C99,2026-01-01,3\n")  # a ragged row, after chunks were written
    out = folder / "out.csv"
    result = cli("predict", churn_model, "-i", source, "-o", out, "--chunk-rows", 5000)
    assert result.exit_code == 2
    assert "different number of fields" in result.stderr
    assert [p.name for p in folder.iterdir()] == ["in.csv"]  # no output, no temporary file
    job = json.loads(cli("jobs", "ls", "--json").stdout)[0]
    assert job["status"] == "failed" and "different number of fields" in job["error"]
    assert job["outputs"] == {} and job["ended_at"] is not None
    assert job["counts"]["rows_read"] >= 5000  # it failed midway, not at the start
    shown = cli("jobs", "show", job["id"][:12])
    assert shown.exit_code == 0 and "failed" in shown.stdout


def test_jobs_show_refuses_an_unknown_id(cli: Any) -> None:
    result = cli("jobs", "show", "zzzz")
    assert result.exit_code == 2 and "No job 'zzzz'" in result.stderr
    blank = cli("jobs", "show", " ")
    assert blank.exit_code == 2 and "' ' is not a job id" in blank.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--kind", "retrian"), "--kind must be predict or retrain, not 'retrian'"),
        (("--endpoint", "churn", "--limit", "0"), "--limit must be 1 or more; got 0"),
        (("--endpoint", "churn", "--limit", "-1"), "--limit must be 1 or more; got -1"),
        (("--endpoint", "churn", "--kind", "predict"), "--endpoint lists retraining jobs"),
    ],
)
def test_jobs_ls_refuses_a_filter_that_cannot_match(
    cli: Any, args: tuple[str, ...], expected: str
) -> None:
    result = cli("jobs", "ls", *args)
    assert result.exit_code == 2, result.stdout
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_a_european_excel_export_scores_as_its_utf8_twin(
    cli: Any, churn_model: str, tmp_path: Path
) -> None:
    """cp1252, ``;`` between fields, decimal commas and day-first dates: what Excel writes in
    much of Europe. Scored in chunks, it reads as the same file saved as UTF-8 with dots."""
    frame = to_score(300)
    frame["Anmerkung"] = np.where(frame.index % 3 == 0, "Kündigung geprüft – „dringend“", "")
    plain, excel = tmp_path / "plain.csv", tmp_path / "excel.csv"
    frame.to_csv(plain, index=False, date_format="%Y-%m-%d")
    frame.to_csv(
        excel, index=False, sep=";", decimal=",", date_format="%d.%m.%Y", encoding="cp1252"
    )
    answers = []
    for path in (plain, excel):
        out = tmp_path / f"{path.stem}-scored.csv"
        result = cli("predict", churn_model, "--input", path, "--output", out, "--chunk-rows", 64)
        assert result.exit_code == 0, result.stderr
        assert _summary(result.stdout)["rejected"] == "0"
        answers.append(pd.read_csv(out, keep_default_na=False, na_values=[""]))
    assert answers[1]["Anmerkung"].fillna("").tolist() == frame["Anmerkung"].tolist()
    assert answers[0]["prediction"].tolist() == answers[1]["prediction"].tolist()
    np.testing.assert_allclose(answers[0]["proba_True"], answers[1]["proba_True"])


def test_rows_rejected_for_a_missing_value_say_once_how_to_allow_them(
    cli: Any, churn_model: str, tmp_path: Path
) -> None:
    """A blank in a column that had no gaps in training is rejected (rule nullable), rightly;
    the command says once, not per row, which schema edit and retrain lets such rows score."""
    frame = to_score(60)
    frame.loc[[3, 40], "contract"] = None
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False, date_format="%Y-%m-%d")
    result = cli("predict", churn_model, "-i", source, "-o", tmp_path / "out.csv")
    assert result.exit_code == 1 and _summary(result.stdout)["rejected"] == "2"
    notes = [line for line in result.stderr.splitlines() if "nullable" in line]
    assert len(notes) == 1, result.stderr
    assert "contract" in notes[0] and '"nullable": true' in notes[0]
    assert "`mloop data schema churn --export FILE`" in notes[0]
    assert "`mloop data schema churn --import FILE`" in notes[0] and "train again" in notes[0]

    as_json = cli("predict", churn_model, "-i", source, "-o", tmp_path / "o2.csv", "--json")
    assert "nullable" in as_json.stderr  # --json keeps the note on stderr, stdout stays JSON
    json.loads(as_json.stdout)
