"""Business KPIs: user functions over a window of the log (joined with its labels when they came).

A KPI is declared as ``kpis = { revenue = "kpis:revenue" }`` in ``[monitors.ENDPOINT]``; the
module is imported from the workspace folder (``mloop.callables``). The function takes one
``pandas.DataFrame`` — the records clients were answered with in the window, columns as the log
names them (``timestamp``, ``model``, ``version``, ``role``, ``status``, ``latency_ms``,
``prediction``, ``proba.<class>``, ``input.<column>``, and ``label`` once feedback has joined) —
and returns one number::

    def revenue(window: pd.DataFrame) -> float:
        kept = (window["prediction"] == "no") & (window["label"] == "no")
        return float(window.loc[kept, "input.monthly_charges"].sum())

It is called once for the window and once per segment (the rows of that segment), so it is
tracked and split like any other figure. ``None`` or NaN means "not measurable here".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from mloop.callables import load_callable
from mloop.errors import InvalidInput
from mloop.monitoring.operations import Point


def load_kpis(kpis: Mapping[str, str], *, root: Path) -> dict[str, Callable[[Any], Any]]:
    """Import every declared KPI function first, so a bad one fails before any work is done."""
    return {
        name: load_callable(spec, root=root, what=f"KPI {name!r} ({spec})")
        for name, spec in kpis.items()
    }


def _value(name: str, function: Callable[[Any], Any], frame: Any) -> float | None:
    try:
        result = function(frame)
    except Exception as exc:  # user code: name it and its error, never a traceback
        raise InvalidInput(
            f"KPI {name!r} raised {type(exc).__name__}: {exc}; fix the function "
            "(it takes the window as a pandas DataFrame and returns a number)."
        ) from exc
    if result is None:
        return None
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        raise InvalidInput(
            f"KPI {name!r} returned {type(result).__name__} {result!r}; a KPI returns one number."
        )
    number = float(result)
    return None if math.isnan(number) else number


def measure_kpis(
    window: pa.Table,
    functions: Mapping[str, Callable[[Any], Any]],
    *,
    segments: Sequence[str] = (),
) -> list[Point]:
    """``kpi.NAME`` for the whole window and each segment (``segment.<column>`` labels)."""
    if not functions:
        return []
    frame = window.to_pandas()
    labels = {s: "segment." + s for s in segments}
    whole = frame.drop(columns=[c for c in labels.values() if c in frame.columns])
    points = [Point(f"kpi.{name}", _value(name, f, whole)) for name, f in functions.items()]
    for column, label in labels.items():
        if label not in frame.columns:
            continue
        for value, group in frame.groupby(label, sort=True):
            part = group.drop(columns=list(labels.values()))
            points += [
                Point(f"kpi.{name}", _value(name, f, part), segment=f"{column}={value}")
                for name, f in functions.items()
            ]
    return points
