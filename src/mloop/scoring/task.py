"""What a model predicts; its own module so the CLI can offer ``--task`` without loading numpy."""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    """A class or a number. A ``str``, so it compares and serialises as one."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
