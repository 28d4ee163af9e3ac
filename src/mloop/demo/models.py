"""A model with a bug that only live traffic finds, for the demo's last chapter.

Its feature code looks up a speed tier for each customer's internet service, and its author's
extract held only internet customers: the lookup has no entry for "None" (about a fifth of live
customers have no internet service). Offline, on that extract, it scores like the champion; live,
it raises on those requests, and a canary's guardrails must catch it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "speed_tier"]
SPEED_TIERS = {"DSL": 1.0, "Fiber optic": 2.0}
CATEGORICAL = ["contract", "internet_service", "payment_method", "region"]


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    tiers = frame["internet_service"].map(SPEED_TIERS)
    if tiers.isna().any():
        unknown = frame["internet_service"][tiers.isna()].iloc[0]
        raise KeyError(f"no speed tier for internet_service {unknown!r}")
    frame = frame.assign(speed_tier=tiers)
    numbers = frame[NUMERIC].apply(pd.to_numeric, errors="coerce").astype("float64")
    text = frame[CATEGORICAL].astype(object).where(frame[CATEGORICAL].notna(), "missing")
    features: pd.DataFrame = pd.concat([numbers, text.astype(str)], axis=1)
    return features


class SpeedTierModel:
    def __init__(self, fitted: Any) -> None:
        self.fitted = fitted
        self.classes_ = fitted.classes_

    @classmethod
    def fit(cls, frame: pd.DataFrame, target: str) -> SpeedTierModel:
        """Trained on internet customers only (the extract its author had)."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        rows = frame[frame["internet_service"].isin(list(SPEED_TIERS))]
        prepare = ColumnTransformer(
            [
                (
                    "numeric",
                    Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                    NUMERIC,
                ),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ]
        )
        model = Pipeline([("features", prepare), ("model", LogisticRegression(max_iter=1000))])
        return cls(model.fit(_features(rows), rows[target]))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.fitted.predict(_features(frame)))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.fitted.predict_proba(_features(frame)))
