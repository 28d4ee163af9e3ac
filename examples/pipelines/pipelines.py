"""The churn model as a cached pipeline: load → features → split → train → evaluate.

    mloop data add churn churn.csv
    mloop pipeline run churn --param C=0.5        # every step runs (independent ones at once)
    mloop pipeline run churn --param C=0.5        # every step is reused: nothing runs
    mloop pipeline run churn --param C=2.0        # only train and evaluate run again

Point mloop.toml at this file (``[pipelines] file = "pipelines.py"``) or run it as
``mloop pipeline run examples/pipelines/pipelines.py:churn``. See docs/pipelines.md.
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mloop
from mloop.pipelines import DatasetRef

TARGET = "churned"
DROP = ["customer_id", "signup_date"]
HOLDOUT_SHARE = 0.25


@mloop.step
def load(data: DatasetRef) -> pd.DataFrame:
    """The dataset version's rows (keyed by the version's content hash, not its name)."""
    return data.load()


@mloop.step
def features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in DROP if c in frame.columns])


@mloop.step
def split_train(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    return frame.sample(frac=1 - HOLDOUT_SHARE, random_state=seed)


@mloop.step
def split_holdout(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    return frame.drop(index=frame.sample(frac=1 - HOLDOUT_SHARE, random_state=seed).index)


@mloop.step
def train(frame: pd.DataFrame, C: float = 1.0, register: str = "churn-pipeline"):
    """Fit and register the model; the returned ModelVersion links the run to this pipeline."""
    model = make_pipeline(
        make_column_transformer(
            (
                make_pipeline(SimpleImputer(), StandardScaler()),
                make_column_selector(dtype_include="number"),
            ),
            (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
        ),
        LogisticRegression(C=C, max_iter=1000),
    )
    with mloop.start_run(experiment="churn-pipeline") as run:
        run.log_params({"C": C})
        model.fit(frame.drop(columns=[TARGET]), frame[TARGET])
        return run.log_model(model, name=register, target=TARGET)


@mloop.step
def evaluate(version, holdout: pd.DataFrame) -> dict:
    model = mloop.load_model(version.ref)
    rows = holdout.drop(columns=[TARGET])
    truth = holdout[TARGET].astype(str)
    predicted = pd.Series(model.predict(rows)).astype(str)
    scores = model.predict_proba(rows)
    positive = str(model.model.classes_[1])
    return {
        "model": version.ref,
        "accuracy": float(accuracy_score(truth, predicted)),
        "roc_auc": float(roc_auc_score(truth == positive, scores[:, 1])),
        "holdout_rows": len(holdout),
    }


@mloop.pipeline
def churn(data: DatasetRef = "churn@latest", C: float = 1.0, seed: int = 0):
    table = features(load(data))
    model = train(split_train(table, seed=seed), C=C)
    return evaluate(model, split_holdout(table, seed=seed))
