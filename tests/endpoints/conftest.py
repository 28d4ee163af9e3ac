"""Small registered models for endpoint tests, made in well under a second each.

``churn@1``, ``churn@2`` and ``churn@3`` predict ``churned`` from two numbers (each a little
different, so each is its own blob); ``plan@1`` predicts another target (``contract``). They
are logged through the public API with an input example, which is all an endpoint (and an ONNX
export) needs; training pipelines are tested elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mloop.workspace import Workspace


def frame(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {"tenure_months": rng.integers(1, 72, rows), "monthly_charges": rng.normal(70, 20, rows)}
    )
    data["churned"] = (data["monthly_charges"] - data["tenure_months"] > 20).astype(int)
    data["contract"] = np.where(data["tenure_months"] > 30, 1, 0)
    return data


def register(workspace: Workspace, name: str, *, target: str = "churned", c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    import mloop

    data = frame()
    inputs = data[["tenure_months", "monthly_charges"]]
    with mloop.start_run(experiment="endpoints", workspace=workspace) as run:
        model = LogisticRegression(C=c, max_iter=500).fit(inputs, data[target])
        return run.log_model(model, name=name, target=target, input_example=inputs.head(5))


@pytest.fixture
def models(workspace: Workspace) -> Workspace:
    """churn@1..3 (churn@1 is champion, churn@2 challenger) and plan@1, on a fresh workspace."""
    from mloop.registry.promotion import promote

    for c in (1.0, 0.5, 0.1):
        register(workspace, "churn", c=c)
    register(workspace, "plan", target="contract")
    for version, alias in ((1, "champion"), (2, "challenger")):
        promote(
            workspace.store,
            workspace.artifacts,
            name="churn",
            version=version,
            alias=alias,
            gate=None,
            actor="tester",
        )
    return workspace


def run_json(cli: Any, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)
