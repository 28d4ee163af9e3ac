from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.tracking.runs import get_run
from mloop.workspace import Workspace


def _lines(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.strip().splitlines() if "=" in line)


def test_train_prints_lineage_and_metrics(cli: Any, churn_csv: Path) -> None:
    assert cli("data", "add", "churn", churn_csv).exit_code == 0
    result = cli("train", "--data", "churn", "--target", "churned", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    out = result.stdout.strip().splitlines()
    assert out[0].startswith("dataset=churn@1 (blake3:")
    assert out[1].startswith("run=")
    metric_names = [line.split("=")[0] for line in out if line.startswith("metric.")]
    assert metric_names == [
        f"metric.{m}" for m in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
    ]
    assert out[-1].startswith("artifact=blake3:")
    values = _lines(result.stdout)
    assert 0.6 < float(values["metric.roc_auc"]) <= 1.0, "the churn signal is learnable"


def test_same_seed_and_data_give_the_same_metrics_and_model(cli: Any, churn_csv: Path) -> None:
    cli("data", "add", "churn", churn_csv)
    args = (
        "train",
        "--data",
        "churn@1",
        "--target",
        "churned",
        "--model",
        "random_forest",
        "--param",
        "n_estimators=30",
        "--seed",
        "7",
    )
    first, second = _lines(cli(*args).stdout), _lines(cli(*args).stdout)
    assert first["run"] != second["run"]
    assert {k: v for k, v in first.items() if k.startswith("metric.")} == {
        k: v for k, v in second.items() if k.startswith("metric.")
    }
    assert first["artifact"] == second["artifact"], "a reproduced model is the same blob"


def test_regression_target_reports_regression_metrics(cli: Any, churn_csv: Path) -> None:
    cli("data", "add", "churn", churn_csv)
    result = cli(
        "train",
        "--data",
        "churn",
        "--target",
        "monthly_charges",
        "--model",
        "gradient_boosting",
        "--param",
        "n_estimators=20",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["task"] == "regression"
    assert set(body["metrics"]) == {"mae", "rmse", "r2"}
    assert body["metrics"]["r2"] > 0.3


def test_the_run_records_lineage(cli: Any, churn_csv: Path, workspace: Workspace) -> None:
    cli("data", "add", "churn", churn_csv)
    values = _lines(
        cli("train", "--data", "churn", "--target", "churned", "--param", "C=0.5").stdout
    )
    run = get_run(workspace.store, values["run"])
    assert run.info.status == "FINISHED"
    assert run.params["C"] == 0.5 and run.params["seed"] == 0 and run.params["model"] == "logistic"
    assert [i.dataset_ref for i in run.inputs] == ["churn@1"]
    kinds = {a.path: a.kind for a in run.artifacts}
    assert kinds["model"] == "model:sklearn" and kinds["holdout.parquet"] == "holdout"
    assert kinds["calibration.json"] == "calibration"  # CBPE's curves: no re-scoring to monitor
    assert "python" in run.info.environment


def test_a_custom_model_callable_is_used(cli: Any, churn_csv: Path, workspace: Workspace) -> None:
    (workspace.root / "my_models.py").write_text(
        "from sklearn.tree import DecisionTreeClassifier\n"
        "def shallow_tree(depth=2, random_state=0):\n"
        "    return DecisionTreeClassifier(max_depth=depth, random_state=random_state)\n"
    )
    cli("data", "add", "churn", churn_csv)
    result = cli(
        "train",
        "--data",
        "churn",
        "--target",
        "churned",
        "--model",
        "my_models:shallow_tree",
        "--param",
        "depth=3",
    )
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--target", "nope"), "Target column 'nope' is not in the dataset"),
        (("--target", "churned", "--model", "svm"), "Unknown --model 'svm'"),
        (("--target", "churned", "--test-size", "1.5"), "--test-size must be between 0 and 1"),
        (("--target", "churned", "--param", "bogus=1"), "--param for logistic"),
        (("--target", "churned", "--param", "novalue"), "is not KEY=VALUE"),
        (("--target", "churned", "--param", "C=1", "--param", "C=2"), "--param C is given twice"),
        (("--target", "churned", "--seed", str(2**32)), "--seed must be between 0 and 4294967295"),
        (("--target", "churned", "--model", "no_such_module:f"), "cannot import 'no_such_module'"),
        (
            ("--target", "churned", "--model", "sklearn.linear_model:LinearRegression"),
            "cannot be scored as classification of 'churned'",
        ),
    ],
)
def test_bad_training_input_is_exit_2_with_one_sentence(
    cli: Any, churn_csv: Path, args: tuple[str, ...], message: str
) -> None:
    cli("data", "add", "churn", churn_csv)
    result = cli("train", "--data", "churn", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_dataset_is_exit_2(cli: Any) -> None:
    result = cli("train", "--data", "ghost", "--target", "y")
    assert result.exit_code == 2
    assert "ghost" in result.stderr


def test_unseen_categories_and_missing_values_still_predict(
    cli: Any, churn_csv: Path, workspace: Workspace, churn_frame: pd.DataFrame
) -> None:
    from mloop.flavors import get_flavor
    from mloop.scoring.features import FeatureSpec, coerce

    cli("data", "add", "churn", churn_csv)
    values = _lines(cli("train", "--data", "churn", "--target", "churned").stdout)
    run = get_run(workspace.store, values["run"])
    blob = next(a for a in run.artifacts if a.path == "model").blob_hash
    model = get_flavor("sklearn").load(workspace.artifacts.get_bytes(blob))
    signature = json.loads(
        workspace.artifacts.get_bytes(
            next(a for a in run.artifacts if a.path == "signature.json").blob_hash
        )
    )
    rows = churn_frame.head(3).copy()
    rows.loc[0, "payment_method"] = "Crypto wallet"
    rows.loc[1, "monthly_charges"] = None
    proba = model.predict_proba(coerce(rows, FeatureSpec.from_dict(signature["features"])))
    assert proba.shape == (3, 2)


def test_data_the_model_cannot_fit_is_exit_2_and_a_failed_run(
    cli: Any, tmp_path: Path, workspace: Workspace
) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text("x,city\n1,Lisboa\n2,Oslo\n")
    cli("data", "add", "tiny", path)
    result = cli("train", "--data", "tiny", "--target", "city")
    assert result.exit_code == 2
    assert "could not be fitted on tiny@1" in result.stderr and "Traceback" not in result.stderr
    runs = json.loads(cli("runs", "ls", "--json").stdout)
    assert runs[0]["status"] == "FAILED"


def test_a_class_seen_only_in_held_out_rows_is_scored_not_a_crash() -> None:
    from mloop.scoring.metrics import classification_metrics

    classes = np.array(["a", "b", "c"])
    y_true = np.array(["a", "b", "c", "a", "DC"], dtype=object)
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]] * 1 + [[0.3, 0.3, 0.4]]
    )
    result = classification_metrics(y_true, proba.argmax(1).choose(classes), proba, classes)
    assert result["accuracy"] == pytest.approx(0.8), "the unseen class counts as a miss"
    assert result["roc_auc"] == pytest.approx(1.0), "probability metrics on the known classes"
    assert result["log_loss"] > 0


def test_a_pipeline_no_safe_format_can_hold_says_it_is_a_pickle(
    cli: Any, churn_csv: Path, workspace: Workspace
) -> None:
    (workspace.root / "house.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n\n\n"
        "class HouseModel(LogisticRegression):\n    pass\n"
    )
    cli("data", "add", "churn", churn_csv)
    result = cli(
        "train", "--data", "churn", "--target", "churned", "--model", "house:HouseModel", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["flavor"] == "pyfunc"
    assert "stored as a pickle (pyfunc flavor)" in result.stderr


@pytest.mark.parametrize(
    ("library", "target", "labels"),
    [
        ("lightgbm", "churned", {True, False}),
        ("xgboost", "churned", {True, False}),
        ("xgboost", "contract", {"Month-to-month", "One year", "Two year"}),  # text classes
    ],
)
def test_boosters_trained_by_mloop_are_stored_natively_and_answer_in_labels(
    cli: Any, churn_csv: Path, workspace: Workspace, library: str, target: str, labels: set[Any]
) -> None:
    pytest.importorskip(library)
    import mloop

    factory = {"lightgbm": "lightgbm:LGBMClassifier", "xgboost": "xgboost:XGBClassifier"}[library]
    cli("data", "add", "churn", churn_csv)
    result = cli(
        "train", "--data", "churn", "--target", target, "--model", factory,
        "--param", "n_estimators=20", "--register", "b", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["flavor"] == library and "pickle" not in result.stderr
    model = mloop.load_model("b@1", workspace=workspace)
    rows = pd.read_csv(churn_csv).head(200)
    assert set(model.predict(rows).tolist()) <= labels
    proba = model.predict_proba(rows)
    assert proba is not None and proba.shape == (200, len(labels))
    promoted = cli("models", "promote", "b", "1", "--to", "champion")  # the gate re-scores it
    assert promoted.exit_code == 0, promoted.stdout + promoted.stderr


def test_row_numbers_and_dropped_columns_are_not_features(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    """A file sorted by price with R's rownames 1..n: as a feature the row number is the answer."""
    rng = np.random.default_rng(3)
    carat = np.sort(rng.uniform(0.2, 3.0, 300))
    frame = pd.DataFrame(
        {
            "rownames": np.arange(1, 301),
            "carat": carat,
            "depth": rng.normal(60, 2, 300),
            "price": carat * 4000 + rng.normal(0, 300, 300),
        }
    )
    path = tmp_path / "diamonds.csv"
    frame.to_csv(path, index=False)
    cli("data", "add", "diamonds", path)
    result = cli("train", "--data", "diamonds", "--target", "price", "--json")
    assert result.exit_code == 0, result.stderr
    features = json.loads(result.stdout)["features"]
    assert features["dropped"] == ["rownames"] and "row numbers" in result.stderr
    chosen = cli("train", "--data", "diamonds", "--target", "price", "--drop", "depth", "--json")
    assert json.loads(chosen.stdout)["features"]["numeric"] == ["carat"]
    assert get_run(workspace.store, json.loads(chosen.stdout)["run"]).params["drop"] == ["depth"]
    typo = cli("train", "--data", "diamonds", "--target", "price", "--drop", "dept")
    assert typo.exit_code == 2 and "--drop names no column of the dataset: dept" in typo.stderr
    assert "did you mean 'depth'?" in typo.stderr
    cased = cli("train", "--data", "diamonds", "--target", "price", "--drop", " Carat")
    assert cased.exit_code == 2 and "did you mean 'carat'?" in cased.stderr


def test_unique_integer_ids_are_not_features(cli: Any, tmp_path: Path) -> None:
    """customer_id 100000..999999 handed out at random, id from 1000: no feature, as the note says."""
    rng = np.random.default_rng(4)
    rows = 200
    frame = pd.DataFrame(
        {
            "customer_id": rng.choice(np.arange(100_000, 999_999), rows, replace=False),
            "orderId": np.arange(1000, 1000 + rows),
            "income": rng.choice(np.arange(20_000, 90_000), rows, replace=False),
            "age": rng.integers(18, 80, rows),
            "churned": rng.choice(["yes", "no"], rows),
        }
    )
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    assert cli("data", "add", "customers", path).exit_code == 0
    result = cli("train", "--data", "customers", "--target", "churned", "--json")
    assert result.exit_code == 0, result.stderr
    features = json.loads(result.stdout)["features"]
    assert features["dropped"] == ["customer_id", "orderId"], "a unique income stays a feature"
    assert features["numeric"] == ["income", "age"]


def test_text_of_many_repeated_values_is_a_category_and_free_text_is_not(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    """A city of 300 values, each in ~13 rows, decides most of the answer: left out as "free
    text" it was, and the model scored roc_auc 0.54. A comment unique to its row stays out."""
    rng = np.random.default_rng(0)
    rows = 4000
    pick = rng.integers(0, 300, rows)
    effect = rng.normal(0, 1.5, 300)[pick]
    frame = pd.DataFrame(
        {
            "city": np.array([f"city-{i:03d}" for i in range(300)])[pick],
            "comment": [f"call {i} went {rng.choice(['well', 'badly'])}" for i in range(rows)],
            "x": rng.normal(size=rows),
            "bought": rng.random(rows) < 1 / (1 + np.exp(-effect)),
        }
    )
    path = tmp_path / "visits.csv"
    frame.to_csv(path, index=False)
    assert cli("data", "add", "visits", path).exit_code == 0
    train = ["train", "--data", "visits", "--target", "bought", "--json"]
    result = cli(*train, "--register", "visits")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["features"]["categorical"] == ["city"] and out["features"]["dropped"] == ["comment"]
    without = json.loads(cli(*train, "--drop", "city").stdout)
    assert out["metrics"]["roc_auc"] > 0.7 > without["metrics"]["roc_auc"] + 0.1

    onnx = tmp_path / "visits.onnx"
    exported = cli("models", "export", "visits@1", "--onnx", onnx)  # checked against the model
    assert exported.exit_code == 0, exported.stderr
    asked = pd.DataFrame({"city": ["city-001", "atlantis"], "x": [0.5, 0.5]})
    model = mloop.load_model("visits@1", workspace=workspace)
    proba = model.predict_proba(asked)
    assert proba is not None and proba.shape == (2, 2)  # a city never seen scores too


def test_prices_and_rates_written_with_their_signs_are_numbers_to_train_and_score(
    cli: Any, tmp_path: Path
) -> None:
    """Inside Airbnb writes "$1,234.00" and "96%": both were text, the price left out as
    free text and the rate a category."""
    rng = np.random.default_rng(1)
    price = rng.uniform(30, 900, 300)
    frame = pd.DataFrame(
        {
            "price": [f"${p:,.2f}" for p in price],
            "response_rate": [f"{r}%" for r in rng.integers(50, 101, 300)],
            "booked": price < 300,
        }
    )
    path = tmp_path / "listings.csv"
    frame.to_csv(path, index=False)
    assert cli("data", "add", "listings", path).exit_code == 0
    result = cli("train", "--data", "listings", "--target", "booked", "--register", "l", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["features"]["numeric"] == ["price", "response_rate"]
    assert out["metrics"]["roc_auc"] > 0.95
    asked = tmp_path / "next.csv"
    frame.drop(columns=["booked"]).head(50).to_csv(asked, index=False)
    scored = cli("predict", "l@1", "-i", asked, "-o", tmp_path / "scored.csv")
    assert scored.exit_code == 0, scored.stderr
    assert len(pd.read_csv(tmp_path / "scored.csv")) == 50


def test_a_rare_class_with_no_held_out_row_says_why_roc_auc_is_missing(
    cli: Any, tmp_path: Path
) -> None:
    """Three classes' roc_auc needs a held-out row of each: with a rare class only in the
    training rows the metric was left out and nothing said why; the output says it once."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    frame.loc[frame.index[:2], "target"] = "nebbiolo"  # two rows: both train, as it happens
    frame.to_csv(tmp_path / "wine.csv", index=False)
    assert cli("data", "add", "wine", tmp_path / "wine.csv").exit_code == 0
    result = cli("train", "--data", "wine", "--target", "target")
    assert result.exit_code == 0, result.stderr
    assert "metric.f1=" in result.stdout and "metric.roc_auc" not in result.stdout
    [note] = [line for line in result.stderr.splitlines() if "roc_auc" in line]
    assert note.startswith("note: metric.roc_auc not computed")
    assert "no row of the class 'nebbiolo' (2 rows in all)" in note
    assert "f1 is computed" in note and "--test-size" in note
    body = json.loads(cli("train", "--data", "wine", "--target", "target", "--json").stdout)
    assert "roc_auc" not in body["metrics"] and "'nebbiolo'" in body["unscored_metrics"]["roc_auc"]

    wider = cli("train", "--data", "wine", "--target", "target", "--test-size", "0.4")
    assert "metric.roc_auc=" in wider.stdout and "not computed" not in wider.stderr
