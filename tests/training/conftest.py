from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "churn"))

from generate import generate


@pytest.fixture
def churn_csv(tmp_path: Path) -> Path:
    path = tmp_path / "churn.csv"
    generate(1500, seed=1).to_csv(path, index=False)
    return path


@pytest.fixture
def churn_frame() -> pd.DataFrame:
    return generate(1500, seed=1)
