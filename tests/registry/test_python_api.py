from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.errors import IntegrityError, InvalidInput
from mloop.workspace import Workspace
from tests.registry.conftest import DECENT

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "churn"))
from generate import generate


class Threshold:
    """A hand-written model: stored with the pyfunc flavor."""

    def __init__(self, cutoff: float) -> None:
        self.cutoff = cutoff

    def predict(self, frame: Any) -> np.ndarray:
        return np.asarray(frame["support_calls"].fillna(0) >= self.cutoff)


def test_log_model_registers_with_lineage_and_load_model_predicts(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = tmp_path / "churn.csv"
    generate(300, seed=2).to_csv(data, index=False)
    version = mloop.add_dataset("churn", data, workspace=workspace)
    with mloop.start_run(experiment="api", workspace=workspace) as run:
        run.log_input(version)
        run.log_param("cutoff", 3)
        with pytest.warns(UserWarning, match="loads only from blobs this workspace wrote"):
            registered = run.log_model(Threshold(3), name="rule")
    assert registered.ref == "rule@1" and registered.flavor == "pyfunc"
    loaded = mloop.load_model("rule@1", workspace=workspace)
    frame = mloop.load_dataset("churn@1", workspace=workspace)
    assert loaded.predict(frame).sum() == (frame["support_calls"].fillna(0) >= 3).sum()


def test_a_pyfunc_blob_swapped_on_disk_is_never_unpickled(workspace: Workspace) -> None:
    with (
        mloop.start_run(experiment="api", workspace=workspace) as run,
        pytest.warns(UserWarning, match="stored as a pickle"),
    ):
        version = run.log_model(Threshold(1), name="rule")
    blob = (
        workspace.settings.artifacts_path
        / "blobs"
        / version.artifact_hash[:2]
        / version.artifact_hash[2:]
    )
    blob.chmod(0o644)
    blob.write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(IntegrityError, match="fails its hash check"):
        mloop.load_model("rule@1", workspace=workspace)


def test_load_model_by_alias_uses_the_feature_spec(
    cli: Any, train_version: Any, workspace: Workspace, churn_data: Path
) -> None:
    train_version(*DECENT)
    assert cli("models", "promote", "churn", "1", "--to", "champion").exit_code == 0
    model = mloop.load_model("churn@champion", workspace=workspace)
    rows = generate(20, seed=8, month=3, drift=True)  # unseen payment method, raw file columns
    proba = model.predict_proba(rows)
    assert proba is not None and proba.shape == (20, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_export_onnx_then_serve_it_with_the_onnx_flavor(
    cli: Any, train_version: Any, workspace: Workspace, tmp_path: Path
) -> None:
    from mloop.flavors import get_flavor

    train_version(*DECENT)
    out = tmp_path / "exports" / "churn.onnx"
    result = cli("models", "export", "churn@1", "--onnx", out)
    assert result.exit_code == 0, result.stderr
    assert out.exists() and "blake3:" in result.stdout
    umask = os.umask(0)
    os.umask(umask)
    # a file to ship to a server: readable as any file the user writes, not 0600 like a temp file
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    onnx = get_flavor("onnx")
    session = onnx.load(out.read_bytes())
    model = mloop.load_model("churn@1", workspace=workspace)
    rows = generate(30, seed=4)
    expected = model.predict_proba(rows)
    actual = onnx.predict_proba(session, model.prepare(rows))
    assert expected is not None and actual is not None
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    labels = onnx.predict(session, model.prepare(rows))
    assert labels.tolist() == model.predict(rows).tolist()  # True/False, as the model says
    assert "agreement=max |Δ probability|" in result.stdout and "0 labels differ" in result.stdout
    folder = cli("models", "export", "churn@1", "--onnx", tmp_path)
    assert folder.exit_code == 2 and "is a folder" in folder.stderr
    again = cli("models", "export", "churn@1", "--onnx", out, "--json")
    assert again.exit_code == 0, again.stderr
    written = json.loads(again.stdout)
    assert written["path"] == str(out.resolve()) and written["size"] == out.stat().st_size


def test_a_bare_estimator_logged_from_python_exports_to_onnx(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    from mloop.flavors import get_flavor

    frame = generate(400, seed=6)
    columns = ["tenure_months", "monthly_charges", "senior_citizen"]
    x = frame[columns].astype(float)
    model = LogisticRegression(max_iter=500).fit(x, frame["churned"])
    with mloop.start_run(experiment="api", workspace=workspace) as run:
        run.log_model(model, name="bare", target="churned", input_example=x.head(3))
    out = tmp_path / "bare.onnx"
    result = cli("models", "export", "bare@1", "--onnx", out)
    assert result.exit_code == 0, result.stderr
    onnx = get_flavor("onnx")
    session = onnx.load(out.read_bytes())
    rows = x.sample(50, random_state=1)[list(reversed(columns))]  # column order is not trusted
    actual = onnx.predict_proba(session, rows)
    assert actual is not None
    np.testing.assert_allclose(actual, model.predict_proba(rows[columns]), atol=1e-5)


def _odd_names_table(path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x-1": rng.normal(size=300), "x 2": rng.normal(size=300)})
    frame["y"] = (frame["x-1"] - frame["x 2"] + rng.normal(scale=0.5, size=300) > 0).astype(int)
    frame.to_csv(path, index=False)


def _iris_table(path: Path) -> None:
    """scikit-learn's iris with its real column names ("sepal length (cm)", ...)."""
    from sklearn.datasets import load_iris

    load_iris(as_frame=True).frame.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("write", "target"), [(_odd_names_table, "y"), (_iris_table, "target")], ids=["x-1", "iris"]
)
def test_onnx_export_of_columns_that_are_not_identifiers_runs_on_the_original_names(
    cli: Any, workspace: Workspace, tmp_path: Path, write: Any, target: str
) -> None:
    """ONNX renames inputs such as ``x-1`` or ``sepal length (cm)``; the file is fed by column."""
    from mloop.flavors import get_flavor

    data = tmp_path / "table.csv"
    write(data)
    assert cli("data", "add", "t", data).exit_code == 0
    trained = cli("train", "--data", "t", "--target", target, "--register", "t")
    assert trained.exit_code == 0, trained.stderr
    out = tmp_path / "t.onnx"
    exported = cli("models", "export", "t@1", "--onnx", out)
    assert exported.exit_code == 0, exported.stderr
    onnx = get_flavor("onnx")
    session = onnx.load(out.read_bytes())
    loaded = mloop.load_model("t@1", workspace=workspace)
    rows = pd.read_csv(data).drop(columns=[target]).sample(60, random_state=2)
    assert any(not c.isidentifier() for c in rows.columns)
    expected = loaded.predict_proba(rows)
    actual = onnx.predict_proba(session, loaded.prepare(rows))
    assert expected is not None and actual is not None
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    assert onnx.predict(session, loaded.prepare(rows)).tolist() == loaded.predict(rows).tolist()


def test_models_ls_json(cli: Any, train_version: Any) -> None:
    train_version(*DECENT)
    listed = json.loads(cli("models", "ls", "--json").stdout)
    assert [(m["name"], m["latest_version"], m["versions"]) for m in listed] == [("churn", 1, 1)]


def test_a_logged_model_with_a_target_goes_through_a_scoring_gate(
    workspace: Workspace, tmp_path: Path, cli: Any
) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    train, later = tmp_path / "train.csv", tmp_path / "later.csv"
    generate(600, seed=4).to_csv(train, index=False)
    generate(300, seed=5).to_csv(later, index=False)
    version = mloop.add_dataset("churn", train, workspace=workspace)
    mloop.add_dataset("later", later, workspace=workspace)
    frame = mloop.load_dataset("churn@1", workspace=workspace)
    pipeline = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["contract"]),
            ("passthrough", ["tenure_months"]),
        ),
        LogisticRegression(),
    ).fit(frame, frame["churned"])
    with mloop.start_run(experiment="api", workspace=workspace) as run:
        run.log_input(version)
        registered = run.log_model(pipeline, name="api", target="churned")
    assert registered.signature.output.type == "class"
    gate = '[gates.auc]\nthresholds = ["roc_auc >= 0.6"]\n'
    (workspace.root / "mloop.toml").write_text((workspace.root / "mloop.toml").read_text() + gate)
    result = cli(
        "models", "promote", "api", "1", "--to", "champion", "--gate", "auc", "--holdout", "later@1"
    )
    assert result.exit_code == 0, result.stderr
    assert "roc_auc >= 0.6" in result.stdout and "pass" in result.stdout


def test_a_version_predicting_another_column_is_refused(cli: Any, train_version: Any) -> None:
    train_version(*DECENT)
    result = cli("train", "--data", "churn", "--target", "contract", "--register", "churn")
    assert result.exit_code == 2
    assert "churn@1 predicts 'churned', not 'contract'" in result.stderr
    assert "another name" in result.stderr
    shown = json.loads(cli("models", "show", "churn@latest", "--json").stdout)
    assert shown["version"]["version"] == 1
    assert len(json.loads(cli("runs", "ls", "--json").stdout)) == 1, "refused before training"


@pytest.mark.parametrize("kind", ["sklearn", "lightgbm", "xgboost"])
def test_a_bare_model_is_rescored_on_a_holdout_with_more_columns_than_it_reads(
    kind: str, workspace: Workspace, tmp_path: Path, cli: Any
) -> None:
    """A holdout table carries the target and other columns, often in another order."""
    train, later = tmp_path / "train.csv", tmp_path / "later.csv"
    generate(600, seed=4).to_csv(train, index=False)
    generate(300, seed=5).to_csv(later, index=False)
    version = mloop.add_dataset("churn", train, workspace=workspace)
    mloop.add_dataset("later", later, workspace=workspace)
    frame = mloop.load_dataset("churn@1", workspace=workspace)
    columns = ["tenure_months", "monthly_charges", "senior_citizen"]
    x, y = frame[columns].astype(float), frame["churned"]
    if kind == "lightgbm":
        model: Any = pytest.importorskip("lightgbm").LGBMClassifier(n_estimators=20, verbose=-1)
    elif kind == "xgboost":
        model = pytest.importorskip("xgboost").XGBClassifier(n_estimators=20)
    else:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=500)
    model.fit(x, y)
    with mloop.start_run(experiment="api", workspace=workspace) as run:
        run.log_input(version)
        registered = run.log_model(model, name="bare", target="churned")
    assert registered.flavor == kind
    gate = '[gates.auc]\nthresholds = ["roc_auc >= 0.5"]\ndata_validation = true\n'
    (workspace.root / "mloop.toml").write_text((workspace.root / "mloop.toml").read_text() + gate)
    result = cli(
        "models",
        "promote",
        "bare",
        "1",
        "--to",
        "champion",
        "--gate",
        "auc",
        "--holdout",
        "later@1",
    )
    assert result.exit_code == 0, result.stderr
    assert "300 rows valid" in result.stdout, "the run's training dataset holds the rules"
    loaded = mloop.load_model("bare@1", workspace=workspace)
    rows = generate(50, seed=9)
    expected = model.predict_proba(rows[columns].astype(float))
    np.testing.assert_allclose(loaded.predict_proba(rows), expected, atol=1e-6)
    with pytest.raises(InvalidInput, match="monthly_charges"):
        loaded.predict(rows.drop(columns="monthly_charges"))


def test_an_onnx_export_that_answers_differently_is_not_written(
    cli: Any, train_version: Any, tmp_path: Path
) -> None:
    """The logistic export computes in float32 (~1e-7 off): a tolerance below that refuses it."""
    train_version(*DECENT)
    out = tmp_path / "churn.onnx"
    refused = cli("models", "export", "churn@1", "--onnx", out, "--tolerance", "1e-12")
    assert refused.exit_code == 1 and not out.exists()
    assert "answers differently from the model" in refused.stderr
    assert "nothing was written" in refused.stderr
    loose = cli("models", "export", "churn@1", "--onnx", out, "--json")
    assert loose.exit_code == 0, loose.stderr
    agreement = json.loads(loose.stdout)["agreement"]
    assert 1e-12 < agreement["max_diff"] <= 1e-4 and agreement["rows"] > 50
    assert out.exists()


@pytest.mark.parametrize(
    ("model", "target"),
    [
        ("random_forest", "churned"),
        ("random_forest", "contract"),
        ("gradient_boosting", "churned"),
        ("gradient_boosting", "contract"),
        ("random_forest", "monthly_charges"),
        ("gradient_boosting", "monthly_charges"),
    ],
)
def test_tree_ensembles_export_to_onnx_within_the_default_tolerance(
    cli: Any, churn_data: Path, workspace: Workspace, tmp_path: Path, model: str, target: str
) -> None:
    """Converted in double, forests and boosted trees split as scikit-learn does on held-out rows."""
    from mloop.flavors import get_flavor

    trained = cli(
        "train", "--data", "churn", "--target", target, "--model", model,
        "--param", "n_estimators=40", "--register", "m",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.stderr
    out = tmp_path / "m.onnx"
    exported = cli("models", "export", "m@1", "--onnx", out, "--json")
    assert exported.exit_code == 0, exported.stderr
    assert json.loads(exported.stdout)["agreement"]["max_diff"] <= 1e-4
    onnx = get_flavor("onnx")
    session = onnx.load(out.read_bytes())
    loaded = mloop.load_model("m@1", workspace=workspace)
    rows = generate(400, seed=12, month=2, drift=True)  # rows no model has seen
    expected, got = loaded.predict(rows), onnx.predict(session, loaded.prepare(rows))
    if target == "monthly_charges":
        assert np.max(np.abs(got - expected)) <= 1e-4 * np.std(expected)
        return
    assert got.tolist() == expected.tolist()
    proba = onnx.predict_proba(session, loaded.prepare(rows))
    assert proba is not None
    np.testing.assert_allclose(proba, loaded.predict_proba(rows), atol=1e-6)


@pytest.mark.parametrize(
    ("model", "target"),
    [
        ("sklearn.svm:SVC", "churned"),  # decision scores, no probabilities
        ("sklearn.svm:SVC", "contract"),
        ("sklearn.linear_model:RidgeClassifier", "churned"),  # one score column
        ("sklearn.linear_model:RidgeClassifier", "contract"),
    ],
)
def test_onnx_exports_of_classifiers_without_probabilities_answer_like_the_model(
    cli: Any, churn_data: Path, workspace: Workspace, tmp_path: Path, model: str, target: str
) -> None:
    from mloop.flavors import get_flavor

    trained = cli(
        "train", "--data", "churn", "--target", target, "--model", model, "--register", "m"
    )
    assert trained.exit_code == 0, trained.stderr
    out = tmp_path / "m.onnx"
    exported = cli("models", "export", "m@1", "--onnx", out)
    assert exported.exit_code == 0, exported.stderr
    assert "label (share of rows)| 0 over" in exported.stdout
    onnx = get_flavor("onnx")
    session = onnx.load(out.read_bytes())
    loaded = mloop.load_model("m@1", workspace=workspace)
    rows = generate(200, seed=5)
    expected = loaded.predict(rows)
    assert onnx.predict(session, loaded.prepare(rows)).tolist() == expected.tolist()
    assert onnx.predict_proba(session, loaded.prepare(rows)) is None
