"""``--model MODULE:CALLABLE``: user code that fails is the user's input error (exit 2), not ours."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mloop.workspace import Workspace

USER_MODELS = '''
from sklearn.base import BaseEstimator, ClassifierMixin


def raises(**params):
    raise RuntimeError("no licence for this model")


class DuckTyped:
    """fit and predict, but not a scikit-learn estimator (no get_params, no tags)."""

    def fit(self, X, y):
        return self

    def predict(self, X):
        return [0] * len(X)


def duck_typed(**params):
    return DuckTyped()


class FailsToFit(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise KeyError("weights")

    def predict(self, X):
        return [0] * len(X)


def fails_to_fit(**params):
    return FailsToFit()


class CtrlC(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise KeyboardInterrupt

    def predict(self, X):
        return [0] * len(X)


def ctrl_c(**params):
    return CtrlC()
'''


@pytest.fixture
def user_models(workspace: Workspace) -> None:
    (workspace.root / "user_models.py").write_text(USER_MODELS)
    (workspace.root / "broken_syntax.py").write_text("def model(:\n")


@pytest.mark.parametrize(
    ("model", "message", "runs"),
    [
        ("user_models:raises", "raised RuntimeError: no licence for this model", []),
        ("user_models:duck_typed", "which is not a scikit-learn estimator", []),
        ("broken_syntax:model", "importing 'broken_syntax' failed (SyntaxError", []),
        (
            "user_models:fails_to_fit",
            "could not be fitted on churn@1 (KeyError: 'weights')",
            ["FAILED"],
        ),
    ],
)
def test_a_custom_model_that_fails_is_exit_2_with_one_sentence(
    cli: Any, churn_csv: Path, user_models: None, model: str, message: str, runs: list[str]
) -> None:
    cli("data", "add", "churn", churn_csv)
    result = cli("train", "--data", "churn", "--target", "churned", "--model", model)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr
    recorded = [r["status"] for r in json.loads(cli("runs", "ls", "--json").stdout)]
    assert recorded == runs, "refused before the run, or the run ends FAILED"


def test_ctrl_c_during_training_ends_the_run_killed_and_registers_nothing(
    cli: Any, churn_csv: Path, user_models: None
) -> None:
    cli("data", "add", "churn", churn_csv)
    result = cli(
        "train",
        "--data",
        "churn",
        "--target",
        "churned",
        "--model",
        "user_models:ctrl_c",
        "--register",
        "churn",
    )
    assert result.exit_code == 130
    assert "Interrupted" in result.stderr
    recorded = [r["status"] for r in json.loads(cli("runs", "ls", "--json").stdout)]
    assert recorded == ["KILLED"], "Ctrl-C is a kill, as in mloop.start_run(), not a failure"
    assert json.loads(cli("models", "ls", "--json").stdout) == []
