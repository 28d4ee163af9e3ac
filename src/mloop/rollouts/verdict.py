"""Deciding a rollout from its figures: pass, fail, or keep watching. Pure: no I/O.

The rules (docs/rollouts.md explains them to users):

- No verdict before the candidate answered ``min_sample`` requests, with one exception: an
  ``error_rate`` or ``rejection_rate`` bar that the errors already seen break *even if every
  request still to come before min_sample succeeds* fails at once. Three errors in the first
  ten requests under ``error_rate <= 0.01`` with ``min_sample = 200`` is 3/200 = 0.015 at best:
  waiting for 190 more requests would only show more users the failing model. (The bound takes
  each request still to come as one row, the way most traffic arrives.)
- From ``min_sample`` on: any failing guardrail fails the rollout at once; every guardrail
  passing promotes it at once; a guardrail with no figure yet (no labels, nothing to compare)
  keeps it watching.
- A ``rejection_rate`` over its bar fails only when the candidate's excess over the champion's
  rate on the same traffic breaks the bar too: rows that break the input rules are the clients'
  (both sides reject them), and a candidate is judged by what it adds. Before min_sample, so
  does the early bound: it fails only when its excess over the champion cannot recover either.
- NaN is a failure (a figure that exists but is undefined never passes a bar, as
  ``Threshold.holds`` says); no data is never a pass (flagger#1035, spinnaker#5622).
- When ``watch`` ends: short of ``min_sample`` the candidate is rejected ("12 of 200 requests in
  10m"); a guardrail still without data rejects it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from mloop.registry.gate_config import Threshold
from mloop.rollouts.figures import Measured, plain

Outcome = Literal["watching", "pass", "fail"]
EARLY_RATES = ("error_rate", "rejection_rate")


@dataclass(frozen=True)
class Judgement:
    outcome: Outcome
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)


def duration_text(seconds: float) -> str:
    """``600`` → ``10m``, ``90`` → ``1m30s``, ``7200`` → ``2h``: as the watch was written."""
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts)


def _number(value: float | None) -> str:
    if value is None:
        return "no data"
    if math.isnan(value):
        return "NaN"
    return f"{value:.4g}"


def _early_bound(guardrail: Threshold, measured: Measured, min_sample: int) -> float | None:
    """The best the rate can still be at ``min_sample``, or None when it cannot fail early."""
    value = measured.candidate.get(guardrail.metric)
    if (
        guardrail.metric not in EARLY_RATES
        or guardrail.op not in ("<=", "<")
        or value is None
        or math.isnan(value)
    ):
        return None
    records = measured.records
    still_to_come = max(min_sample - measured.requests, 0)
    if records + still_to_come == 0:
        return None
    return value * records / (records + still_to_come)


def _shared_with_champion(
    guardrail: Threshold, value: float | None, champion: float | None
) -> bool:
    """A rejection rate the champion shows as well on the same traffic: rows that break the
    endpoint's input rules are the clients', so the candidate answers for its excess only."""
    return (
        guardrail.metric == "rejection_rate"
        and guardrail.op in ("<=", "<")
        and value is not None
        and champion is not None
        and not math.isnan(value)
        and not math.isnan(champion)
        and guardrail.holds(value - champion)
    )


def _check(guardrail: Threshold, measured: Measured, min_sample: int) -> dict[str, Any]:
    value = measured.candidate.get(guardrail.metric)
    champion = measured.champion.get(guardrail.metric)
    enough = measured.requests >= min_sample
    shared = _shared_with_champion(guardrail, value, champion)
    if value is None:
        result = "no data"
    elif not guardrail.holds(value) and not shared:
        bound = None if enough else _early_bound(guardrail, measured, min_sample)
        hopeless = (
            bound is not None
            and not guardrail.holds(bound)
            and not _shared_with_champion(guardrail, bound, champion)
        )
        result = "fail" if enough or hopeless else "waiting"
    else:
        result = "pass" if enough else "waiting"
    shown = "NaN" if value is not None and math.isnan(value) else _number(value)
    beside = "" if champion is None else f" (champion {_number(champion)})"
    if shared and not guardrail.holds(value or 0.0):
        beside = f" (champion {_number(champion)}: the inputs, not the candidate)"
    return {
        # the keys of a gate's check (``registry.gates.CheckResult``), so the verdict stored on
        # the candidate reads like any other in `mloop models show`
        "check": "guardrail",
        "name": str(guardrail),
        "passed": result == "pass",
        "detail": f"{shown}{beside}: {result}",
        "guardrail": str(guardrail),
        "metric": guardrail.metric,
        "value": plain(value),
        "nan": value is not None and math.isnan(value),
        "champion": plain(champion),
        "result": result,
    }


def _failed_text(check: dict[str, Any], measured: Measured) -> str:
    value = "NaN" if check["nan"] else _number(check["value"])
    champion = check["champion"]
    beside = "" if champion is None else f", champion {_number(champion)}"
    return f"{check['guardrail']} failed: {value} on {measured.requests} requests{beside}"


def judge(
    guardrails: tuple[Threshold, ...],
    measured: Measured,
    *,
    min_sample: int,
    elapsed_s: float,
    watch_s: float,
) -> Judgement:
    """The verdict the figures support now (see the module docstring for the rules)."""
    checks = [_check(g, measured, min_sample) for g in guardrails]
    failed = [c for c in checks if c["result"] == "fail"]
    missing = [c for c in checks if c["result"] == "no data"]
    due = elapsed_s >= watch_s
    watch = duration_text(watch_s)
    if failed:
        early = "" if measured.requests >= min_sample else " (before min_sample: it cannot recover)"
        return Judgement(
            "fail", "; ".join(_failed_text(c, measured) for c in failed) + early, checks
        )
    if measured.requests < min_sample:
        if due:
            return Judgement(
                "fail",
                f"{measured.requests} of {min_sample} requests in {watch}: too few for a "
                "verdict, so the candidate is rejected",
                checks,
            )
        return Judgement("watching", f"{measured.requests} of {min_sample} requests so far", checks)
    if missing:
        names = ", ".join(c["metric"] for c in missing)
        if due:
            return Judgement(
                "fail",
                f"no data for {names} by the end of the {watch} watch; no data is never a pass",
                checks,
            )
        return Judgement("watching", f"waiting for data for {names}", checks)
    shown = ", ".join(f"{c['metric']} {_number(c['value'])}" for c in checks)
    return Judgement(
        "pass", f"every guardrail passed on {measured.requests} requests ({shown})", checks
    )
