"""A model with a bug that only live traffic finds, for the demo's last chapter.

Its feature code assumes ``support_calls`` is always recorded: true in the extract it was checked
on, not in live traffic, where about 2% of customers arrive without it. Offline it scores like the
champion; live, it raises on those requests, and a canary's guardrails must catch it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class AssumesSupportCalls:
    def __init__(self, fitted: Any) -> None:
        self.fitted = fitted
        self.classes_ = fitted.classes_

    @staticmethod
    def _features(frame: pd.DataFrame) -> pd.DataFrame:
        calls = frame["support_calls"]
        if calls.isna().any():
            raise ValueError("support_calls is missing: this feature code never expected that")
        return frame.assign(support_calls=calls.astype("int64"))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.fitted.predict(self._features(frame)))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.fitted.predict_proba(self._features(frame)))
