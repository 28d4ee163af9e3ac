"""Small registered models for rollout tests, each made in well under a second.

``churn@1`` and ``churn@2`` are healthy logistic regressions of ``churned`` on two numbers;
``lazy`` fits labels that are almost all 0 under heavy regularisation, so it answers 0 to every
request (a candidate whose predictions drift from the champion's); ``flaky`` is a plain Python
model (pickled, from ``flaky_model.py`` written into the workspace so a server started there
imports it) that raises on every row whose ``monthly_charges`` is over 60; ``slow`` is one that
takes 3 s over those rows.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mloop
from mloop.workspace import Workspace

FEATURES = ["tenure_months", "monthly_charges"]
FLAKY_SOURCE = '''
import numpy as np


class Flaky:
    """Scores like a rule, but raises on any row with monthly_charges over 60."""

    classes_ = np.array([0, 1])  # a classifier of churned, as the champion

    def predict(self, frame):
        charges = np.asarray(frame["monthly_charges"], dtype=float)
        if (charges > 60).any():
            raise RuntimeError("flaky model: cannot score charges over 60")
        return (charges > 40).astype(int)
'''

SLOW_SOURCE = '''
import time

import numpy as np


class Slow:
    """Scores like a rule, but takes 3 s over any row with monthly_charges over 60."""

    classes_ = np.array([0, 1])

    def predict(self, frame):
        charges = np.asarray(frame["monthly_charges"], dtype=float)
        if (charges > 60).any():
            time.sleep(3)
        return (charges > 40).astype(int)
'''


def frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {"tenure_months": rng.integers(1, 72, rows), "monthly_charges": rng.normal(70, 20, rows)}
    )
    data["churned"] = (data["monthly_charges"] - data["tenure_months"] > 20).astype(int)
    return data


def rows(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` request rows as a client sends them (no target)."""
    data = frame(n, seed)[FEATURES]
    return [
        {"tenure_months": int(t), "monthly_charges": float(c)}
        for t, c in zip(data["tenure_months"], data["monthly_charges"], strict=True)
    ]


def _log(workspace: Workspace, name: str, model: Any, example: pd.DataFrame) -> Any:
    with mloop.start_run(experiment="rollouts", workspace=workspace) as run:
        return run.log_model(model, name=name, target="churned", input_example=example)


def healthy(workspace: Workspace, name: str = "churn", *, c: float = 1.0, seed: int = 0) -> Any:
    """A logistic regression on ``frame(seed=seed)``: another seed is a retrain on fresh rows."""
    from sklearn.linear_model import LogisticRegression

    data = frame(seed=seed)
    model = LogisticRegression(C=c, max_iter=500).fit(data[FEATURES], data["churned"])
    return _log(workspace, name, model, data[FEATURES].head(5))


def lazy(workspace: Workspace, name: str = "churn") -> Any:
    from sklearn.linear_model import LogisticRegression

    data = frame()
    labels = np.zeros(len(data), dtype=int)
    labels[:3] = 1
    model = LogisticRegression(C=1e-6, max_iter=500).fit(data[FEATURES], labels)
    return _log(workspace, name, model, data[FEATURES].head(5))


def flaky(workspace: Workspace, name: str = "churn") -> Any:
    return _custom(workspace, name, "flaky_model", FLAKY_SOURCE, "Flaky")


def _custom(workspace: Workspace, name: str, module: str, source: str, cls: str) -> Any:
    """A model class written into the workspace (the server imports it from there), logged."""
    (workspace.root / f"{module}.py").write_text(source, encoding="utf-8")
    if str(workspace.root) not in sys.path:
        sys.path.insert(0, str(workspace.root))
    sys.modules.pop(module, None)
    model = getattr(importlib.import_module(module), cls)()
    example = frame()[FEATURES]
    example = example[example["monthly_charges"] <= 60].head(5)  # it warms up on these
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the pickle note: expected here
        return _log(workspace, name, model, example)


def slow(workspace: Workspace, name: str = "churn") -> Any:
    return _custom(workspace, name, "slow_model", SLOW_SOURCE, "Slow")


def workspace_at(root: Path) -> Workspace:
    ws, _ = Workspace.init(root, environ={"MLOOP_USER": "tester"})
    return ws
