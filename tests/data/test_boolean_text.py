"""Columns spelled yes/no, y/n, t/f or true/false in any case are booleans, end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.data.datasets import add_version
from mloop.data.schema import as_booleans
from mloop.data.validation import validate_frame
from mloop.errors import InvalidInput
from mloop.workspace import Workspace


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["yes", "no", "yes", None], "boolean"),
        (["Yes", "NO", "yes", "No"], "boolean"),
        (["Y", "N", "N", None], "boolean"),
        (["y", "n", "y", "y"], "boolean"),
        (["T", "F", None, "t"], "boolean"),
        (["tRuE", "False", "true", "FALSE"], "boolean"),
        ([" yes", "no ", "yes", "no"], "boolean"),
        (["yes", "yes", None, "yes"], "boolean"),
        # one letter alone is a code (Y for yearly, N for north), not a flag
        (["Y", "Y", "Y", "Y"], "categorical"),
        # two spellings mixed are not one true/false pair
        (["yes", "n", "yes", "no"], "categorical"),
        (["true", "yes", "false", "no"], "categorical"),
        (["yes", "no", "maybe", "no"], "categorical"),
    ],
)
def test_text_flags_are_inferred_boolean(
    workspace: Workspace, tmp_path: Path, values: list[str | None], expected: str
) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"id": range(len(values)), "flag": values}).to_csv(path, index=False)
    version = add_version(workspace.store, workspace.artifacts, name="t", path=path, actor="t")
    flag = version.version.schema.column("flag")
    assert flag.type == expected
    if expected == "boolean":
        assert flag.allowed is None
        assert flag.nullable == (None in values)


def test_zero_one_integers_stay_integers(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,flag\n1,0\n2,1\n3,1\n4,\n")
    version = add_version(workspace.store, workspace.artifacts, name="t", path=path, actor="t")
    assert version.version.schema.column("flag").type == "integer"


def test_a_yes_no_dataset_loads_validates_and_profiles_as_boolean(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "survey.csv"
    path.write_text("id,smoker\n1,Yes\n2,No\n3,\n4,yes\n")
    version = add_version(
        workspace.store, workspace.artifacts, name="survey", path=path, actor="t"
    ).version
    frame = mloop.load_dataset("survey", workspace=workspace)
    assert frame["smoker"].tolist() == ["Yes", "No", None, "yes"], "values load as written"
    assert as_booleans(frame["smoker"]).tolist() == [True, False, pd.NA, True]
    assert validate_frame(version.schema, frame).ok
    assert validate_frame(version.schema, pd.DataFrame({"id": [5], "smoker": [True]})).ok, (
        "a JSON true in a later request is the same type"
    )
    report = validate_frame(version.schema, pd.DataFrame({"id": [5], "smoker": ["maybe"]}))
    assert [(v.column, v.rule) for v in report.violations] == [("smoker", "type")]
    profile = version.profile["columns"]["smoker"]
    assert (profile["type"], profile["nulls"]) == ("boolean", 1)


def test_as_booleans_names_a_value_that_is_not_one() -> None:
    with pytest.raises(InvalidInput, match="'maybe'"):
        as_booleans(pd.Series(["yes", "maybe"]), what="column 'smoker'")
    assert as_booleans(pd.Series([True, False, None])).tolist() == [True, False, pd.NA]
    assert as_booleans(pd.Series(np.array([1, 0]))).tolist() == [True, False]


def _lines(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.strip().splitlines() if "=" in line)


def test_training_on_a_yes_no_target_and_feature(cli: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = 400
    smoker = rng.random(rows) < 0.4
    age = rng.integers(20, 80, rows)
    sick = (smoker & (rng.random(rows) < 0.8)) | (~smoker & (rng.random(rows) < 0.1))
    frame = pd.DataFrame(
        {
            "age": age,
            "smoker": np.where(smoker, "Y", "N"),
            "sick": np.where(sick, "yes", "no"),
        }
    )
    frame.loc[::37, "smoker"] = None
    path = tmp_path / "health.csv"
    frame.to_csv(path, index=False)
    assert cli("data", "add", "health", path).exit_code == 0
    schema = cli("data", "schema", "health", "--json")
    assert '"boolean"' in schema.stdout
    result = cli("train", "--data", "health", "--target", "sick", "--seed", "1")
    assert result.exit_code == 0, result.stderr
    metrics = _lines(result.stdout)
    assert float(metrics["metric.roc_auc"]) > 0.75, "smoker=Y predicts sick=yes"
    assert 0.7 < float(metrics["metric.accuracy"]) <= 1.0


def test_a_boolean_feature_reads_any_spelling_at_predict_time(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    """Trained on Y/N, the model takes True, "yes" or 1 for the same answer: not an unseen value."""
    import mloop

    rng = np.random.default_rng(0)
    smoker = rng.random(400) < 0.4
    sick = (smoker & (rng.random(400) < 0.8)) | (~smoker & (rng.random(400) < 0.1))
    frame = pd.DataFrame(
        {"age": rng.integers(20, 80, 400), "smoker": np.where(smoker, "Y", "N"), "sick": sick}
    )
    path = tmp_path / "health.csv"
    frame.to_csv(path, index=False)
    assert cli("data", "add", "health", path).exit_code == 0
    assert cli("train", "--data", "health", "--target", "sick", "--register", "h").exit_code == 0
    model = mloop.load_model("h@1", workspace=workspace)
    as_file = model.predict_proba(pd.DataFrame({"age": [50, 50], "smoker": ["Y", "N"]}))
    for spelled in ([True, False], ["yes", "no"], ["TRUE", "false"], [1, 0]):
        request = pd.DataFrame({"age": [50, 50], "smoker": spelled})
        np.testing.assert_allclose(model.predict_proba(request), as_file)
    assert as_file[0, 1] > as_file[1, 1], "smokers are likelier to be sick"


def test_a_yes_no_target_answers_in_its_own_spelling_and_rescores_any_spelling(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    """Predictions say "yes"/"no" as the file did; a later file spelled YES/NO re-scores the same."""
    import mloop

    rng = np.random.default_rng(1)

    def table(rows: int, yes: str, no: str) -> pd.DataFrame:
        smoker = rng.random(rows) < 0.4
        sick = (smoker & (rng.random(rows) < 0.85)) | (~smoker & (rng.random(rows) < 0.1))
        return pd.DataFrame(
            {"age": rng.integers(20, 80, rows), "smoker": smoker, "sick": np.where(sick, yes, no)}
        )

    first, later = tmp_path / "first.csv", tmp_path / "later.csv"
    table(400, "yes", "no").to_csv(first, index=False)
    table(300, "YES", "NO").to_csv(later, index=False)
    assert cli("data", "add", "health", first).exit_code == 0
    trained = cli("train", "--data", "health", "--target", "sick", "--register", "h")
    assert trained.exit_code == 0, trained.stderr
    model = mloop.load_model("h@1", workspace=workspace)
    assert set(model.predict(pd.read_csv(first)).tolist()) == {"yes", "no"}
    assert model.version.signature.classes == ["no", "yes"]
    assert cli("data", "add", "health", later).exit_code == 0
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text() + '\n[gates.spelled]\nthresholds = ["accuracy >= 0.75"]\n')
    promoted = cli(
        "models", "promote", "h", "1", "--to", "champion", "--gate", "spelled",
        "--holdout", "health@2", "--json",
    )  # fmt: skip
    assert promoted.exit_code == 0, promoted.stdout + promoted.stderr
    (check,) = json.loads(promoted.stdout)["checks"]
    assert check["values"]["value"] >= 0.75, "YES/NO in the holdout scored as the model's yes/no"
