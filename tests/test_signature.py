"""The model signature carries the rules in force: the dataset's current (edited) schema.

A ``max`` or a custom check imported with ``data schema --import`` must reach the signature,
training must check its rows against it (and say so on the run), and the promotion gate's data
check must use it. Signatures stored before the typed model (plain dicts) must still load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from mloop.registry.gate_config import Gate
from mloop.registry.promotion import promote
from mloop.registry.versions import resolve
from mloop.scoring.names import VALIDATION_TAG
from mloop.scoring.targets import Task
from mloop.signature import Signature
from mloop.tracking.runs import get_run
from mloop.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "churn"))

from generate import generate

TENURE_MAX = 60  # the generated data reaches 72 months


@pytest.fixture
def edited_rules(cli: Any, tmp_path: Path, workspace: Workspace) -> Path:
    """churn with an imported schema: tenure capped below the data's maximum, and a custom check."""
    data = tmp_path / "churn.csv"
    frame = generate(600, seed=3)
    assert frame["tenure_months"].max() > TENURE_MAX
    frame.to_csv(data, index=False)
    assert cli("data", "add", "churn", data).exit_code == 0
    exported = tmp_path / "schema.json"
    assert cli("data", "schema", "churn", "--export", exported).exit_code == 0
    document = json.loads(exported.read_text())
    tenure = next(c for c in document["columns"] if c["name"] == "tenure_months")
    tenure["max"] = TENURE_MAX
    (workspace.root / "churn_rules.py").write_text(
        "def charges_add_up(df):\n    return df['total_charges'] >= 0\n"
    )
    document["checks"] = [{"name": "charges_add_up", "callable": "churn_rules:charges_add_up"}]
    exported.write_text(json.dumps(document))
    assert cli("data", "schema", "churn", "--import", exported).exit_code == 0
    return data


def test_an_imported_max_reaches_the_signature(cli: Any, edited_rules: Path) -> None:
    trained = cli("train", "--data", "churn", "--target", "churned", "--register", "churn")
    assert trained.exit_code == 0, trained.stderr
    shown = json.loads(cli("models", "show", "churn@1", "--json").stdout)["version"]
    signature = shown["signature"]
    tenure = next(c for c in signature["inputs"] if c["name"] == "tenure_months")
    assert tenure["max"] == TENURE_MAX
    assert signature["schema_revision"] == 2
    assert [c["name"] for c in signature["checks"]] == ["charges_add_up"]
    assert signature["target_rules"]["name"] == "churned"
    assert signature["dataset"] == "churn@1"


def test_training_validates_its_rows_and_records_the_result(
    cli: Any, edited_rules: Path, workspace: Workspace
) -> None:
    trained = cli("train", "--data", "churn", "--target", "churned", "--json")
    assert trained.exit_code == 0, trained.stderr
    result = json.loads(trained.stdout)
    over = int((generate(600, seed=3)["tenure_months"] > TENURE_MAX).sum())
    assert result["input_validation"]["ok"] is False
    assert {"column": "tenure_months", "rule": "max", "count": over} in [
        {k: v[k] for k in ("column", "rule", "count")}
        for v in result["input_validation"]["violations"]
    ]
    tag = get_run(workspace.store, result["run"]).tags[VALIDATION_TAG]
    assert f"tenure_months: max ({over})" in tag and "schema revision 2" in tag
    assert "tenure_months" in trained.stderr  # the user is told, not only the record


def test_the_gate_checks_the_holdout_with_the_signature_rules(
    cli: Any, edited_rules: Path, workspace: Workspace
) -> None:
    assert (
        cli("train", "--data", "churn", "--target", "churned", "--register", "churn").exit_code == 0
    )
    candidate = resolve(workspace.store, "churn@1")
    result = promote(  # scored on the run's own held-out split
        workspace.store,
        workspace.artifacts,
        name="churn",
        version=1,
        alias="champion",
        gate=Gate(name="rules", data_validation=True),
        actor="tester",
        force=True,
        reason="see the verdict",
        root=workspace.root,
    )
    (check,) = result.checks
    assert check.check == "data_validation" and not check.passed
    assert "tenure_months: max" in check.detail and "schema revision 2" in check.detail
    assert candidate.signature.schema_revision == check.values["schema_revision"] == 2


def test_a_signature_stored_as_an_untyped_dict_still_loads() -> None:
    # What register.build_signature stored for `mloop train` models before the typed signature.
    stored = {
        "target": "churned",
        "target_type": "boolean",
        "task": "classification",
        "features": {
            "numeric": ["tenure_months"],
            "categorical": ["contract", "senior_citizen"],
            "dropped": ["customer_id"],
            "boolean": ["senior_citizen"],
        },
        "classes": [False, True],
        "dataset": "churn@1",
        "dataset_hash": "ab" * 32,
        "inputs": [
            {
                "name": "tenure_months",
                "type": "integer",
                "required": True,
                "nullable": False,
                "min": 0,
                "max": 72,
                "allowed": None,
                "max_null_rate": None,
                "unique": False,
            },
            {"name": "contract", "type": "categorical", "allowed": ["Month-to-month", "One year"]},
            {"name": "senior_citizen", "type": "boolean", "min": 0},  # no longer a valid rule
        ],
        "output": {"type": "class", "classes": [False, True], "proba": True},
        "input_example": [{"tenure_months": 3, "contract": "One year", "senior_citizen": True}],
    }
    signature = Signature.from_stored(stored)
    assert signature.format == 1 and signature.task is Task.CLASSIFICATION
    assert signature.classes == [False, True] and signature.output.proba
    assert signature.input_names == ["tenure_months", "contract", "senior_citizen"]
    assert [c.name for c in signature.inputs] == ["tenure_months", "contract"]
    assert signature.rules().column("tenure_months").max == 72
    assert signature.schema_revision is None
    # A Python-logged model's dict: classes at the top level, no output, no feature spec.
    logged = Signature.from_stored({"target": "y", "task": "regression", "columns": ["a", "b"]})
    assert logged.output.type == "number" and logged.features is None
    assert Signature.from_stored(None) == Signature.from_stored({}) == Signature(format=1)
