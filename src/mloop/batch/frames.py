"""``mloop.predict`` for a DataFrame: the same rules and the same scorer as a file, in memory.

A frame is one chunk: its rows are checked with the model's row rules (data/batch_checks.py),
then scored as given (the model reads the frame's own values, not a copy through Arrow). A row
that breaks a rule raises ``ValidationFailed`` listing every bad value, unless
``on_invalid="drop"``, which scores the rest and leaves the bad rows out of the answer (its
index says which rows those are).
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd

from mloop.batch.scorer import ModelFailures, Scorer
from mloop.data.validation import frame_to_table
from mloop.data.violations import FieldError
from mloop.errors import InvalidInput, ValidationFailed

OnInvalid = Literal["raise", "drop"]
SHOWN = 3


def predict_frame(
    scorer: Scorer, frame: pd.DataFrame, *, on_invalid: OnInvalid = "raise"
) -> pd.DataFrame:
    """Predictions for ``frame``'s rows, on its index: ``prediction`` and, for a classifier,
    one ``proba_<class>`` column per class. Raises ``InvalidInput`` for a frame lacking a
    column the model reads, ``ValidationFailed`` (``details``: one dict per bad value with
    ``row`` (1-based position), ``index`` (the frame's label), ``column``, ``rule``, ``value``,
    ``message``) for rows that break its rules when ``on_invalid="raise"``."""
    if on_invalid not in ("raise", "drop"):
        raise InvalidInput(f"on_invalid must be 'raise' or 'drop'; got {on_invalid!r}.")
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput(
            f"mloop.predict takes a pandas DataFrame; got {type(frame).__name__}, "
            "e.g. pass pd.DataFrame(records)."
        )
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.rename(columns=str)
    scorer.check_columns(list(frame.columns), where="The frame")
    try:
        scored = scorer.score(frame_to_table(frame), frame=frame)
    except ModelFailures as exc:  # the frame is one chunk: say which of its rows
        where = f"row {exc.row} of the frame, index {_plain(frame.index[exc.row - 1])!r}"
        raise exc.at(where) from exc.cause
    if scored.rejects and on_invalid == "raise":
        raise _failure(scorer, frame, scored.rejects)
    out: pd.DataFrame = scored.predictions.to_pandas()
    out.index = frame.index[scored.kept]
    return out


def _failure(scorer: Scorer, frame: pd.DataFrame, rejects: list[FieldError]) -> ValidationFailed:
    rejects = sorted(rejects, key=lambda e: e.row or 0)
    details: list[dict[str, Any]] = [
        {
            "row": e.row,
            "index": None if e.row is None else _plain(frame.index[e.row - 1]),
            "column": e.column,
            "rule": e.rule,
            "value": e.value,
            "message": e.message,
        }
        for e in rejects
    ]
    rows = len({e.row for e in rejects})
    shown = "; ".join(
        f"index {d['index']!r}: {d['column']} {d['rule']} ({d['message']}, got {d['value']!r})"
        for d in details[:SHOWN]
    )
    more = f"; and {len(details) - SHOWN} more" if len(details) > SHOWN else ""
    return ValidationFailed(
        f"{rows} row{'s' if rows != 1 else ''} of the frame break the rules of "
        f"{scorer.model.version.ref} ({shown}{more}); fix them, or pass on_invalid='drop' to "
        "score the rest (the error's .details lists every bad value).",
        details=details,
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
