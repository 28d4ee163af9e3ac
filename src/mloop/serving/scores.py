"""What scoring a table answers, row by row: the shape the runner returns and the codecs encode.

Kept apart from the runner so the codecs (which turn it into HTTP bodies) and the batcher (which
cuts one batch's answer back into each request's rows) need no model code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mloop.data.schema import category_text


@dataclass(frozen=True)
class Scores:
    """One answer per row, in the target's own labels.

    ``predictions[i]`` is a plain Python value (``True``, ``"yes"``, ``3``, ``0.42``), or ``None``
    when row ``i`` could not be scored, in which case ``errors[i]`` says why. For classifiers
    with probabilities, ``probabilities`` is an ``(n, k)`` float array whose columns are
    ``classes`` (a failed row is all NaN).
    """

    predictions: list[Any]
    errors: list[str | None]
    probabilities: np.ndarray | None = None
    classes: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.predictions)

    @property
    def failed(self) -> int:
        return sum(e is not None for e in self.errors)

    @property
    def class_keys(self) -> list[str] | None:
        """The classes as JSON object keys: ``True`` is ``"True"``, ``3.0`` is ``"3"`` (as categories are spelled)."""
        return None if self.classes is None else [category_text(c) for c in self.classes]

    def probability_dicts(self) -> list[dict[str, float] | None] | None:
        """Per row, class -> probability (``None`` for a failed row); ``None`` without probabilities."""
        if self.probabilities is None:
            return None
        keys = self.class_keys or [str(i) for i in range(self.probabilities.shape[1])]
        rows = self.probabilities.tolist()
        return [
            None if error is not None else dict(zip(keys, row, strict=True))
            for row, error in zip(rows, self.errors, strict=True)
        ]

    def take(self, start: int, stop: int) -> Scores:
        """Rows ``start:stop``: one request's share of a micro-batch."""
        return Scores(
            predictions=self.predictions[start:stop],
            errors=self.errors[start:stop],
            probabilities=None if self.probabilities is None else self.probabilities[start:stop],
            classes=self.classes,
        )

    @classmethod
    def concat(cls, parts: list[Scores]) -> Scores:
        """Join row-wise answers of the same model (used when a batch is re-scored row by row)."""
        if not parts:
            return cls([], [])
        probabilities = None
        if all(p.probabilities is not None for p in parts):
            probabilities = np.concatenate(
                [p.probabilities for p in parts if p.probabilities is not None]
            )
        return cls(
            predictions=[v for p in parts for v in p.predictions],
            errors=[e for p in parts for e in p.errors],
            probabilities=probabilities,
            classes=next((p.classes for p in parts if p.classes is not None), None),
        )
