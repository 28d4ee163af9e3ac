"""Real models for the serving-core tests, trained once per test session in a temporary workspace.

A logistic regression (its labels are read off ``predict_proba``), a small gradient boosting
(``predict`` and ``predict_proba`` both run), a ridge regression, and the logistic model's
checked ONNX export: the same churn data and training code users run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from mloop.api import add_dataset
from mloop.demo_data import generate
from mloop.registry.export import export_onnx_file
from mloop.registry.loading import LoadedModel, load_model
from mloop.registry.register import register_run
from mloop.training.train import train
from mloop.workspace import Workspace

USER = "tester"


@dataclass
class Trained:
    workspace: Workspace
    classifier: LoadedModel  # logistic regression, labels from predict_proba
    boosted: LoadedModel  # gradient boosting: predict and predict_proba
    regressor: LoadedModel  # ridge on monthly_charges
    onnx: bytes  # the classifier's checked ONNX export
    onnx_hash: str
    rows: pd.DataFrame  # fresh rows to score (no target)


_CACHE: dict[str, Trained] = {}


def _register(
    ws: Workspace, name: str, target: str, model: str, params: dict[str, object]
) -> LoadedModel:
    result = train(
        ws.store,
        ws.artifacts,
        data="churn",
        target=target,
        user=USER,
        root=ws.root,
        model=model,
        params=params,
        seed=11,
    )
    version = register_run(ws.store, ws.artifacts, run_id=result.run_id, name=name, actor=USER)
    return load_model(ws.store, ws.artifacts, version.ref)


def build(root: Path) -> Trained:
    environ = {"MLOOP_STORE_URL": f"sqlite:///{root / 'mloop.db'}", "MLOOP_USER": USER}
    ws, _ = Workspace.init(root / "ws", environ=environ)
    path = root / "churn.csv"
    generate(1200, seed=5).to_csv(path, index=False)
    add_dataset("churn", path, workspace=ws)
    classifier = _register(ws, "churn", "churned", "logistic", {})
    boosted = _register(
        ws, "churn", "churned", "gradient_boosting", {"n_estimators": 5, "max_depth": 2}
    )
    regressor = _register(ws, "charges", "monthly_charges", "ridge", {})
    written = export_onnx_file(ws.store, ws.artifacts, classifier.version.ref, root / "churn.onnx")
    rows = generate(200, seed=99, month=2).drop(columns=["churned"])
    return Trained(
        ws, classifier, boosted, regressor, written.path.read_bytes(), written.hash, rows
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    if "churn" not in _CACHE:
        _CACHE["churn"] = build(tmp_path_factory.mktemp("serving-models"))
    return _CACHE["churn"]
