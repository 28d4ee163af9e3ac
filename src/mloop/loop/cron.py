"""Cron schedules, evaluated in UTC, through ``cronsim``.

cronsim (healthchecks.io's evaluator, no dependencies) rather than a home-made parser: cron's
day-of-month/day-of-week OR rule, ranges, steps and names are easy to get subtly wrong.
"""

from __future__ import annotations

import datetime as dt

from cronsim import CronSim, CronSimError

from mloop.errors import InvalidInput


def parse_cron(text: object, *, where: str) -> str:
    """``text`` when it is a valid five-field cron expression; raises ``InvalidInput``."""
    if not isinstance(text, str):
        raise InvalidInput(
            f'{where} must be a cron expression in quotes like "0 3 * * 1", not {text!r}.'
        )
    try:
        CronSim(text, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CronSimError as exc:
        raise InvalidInput(
            f'{where} {text!r} is not a cron expression ({exc}); use five fields like "0 3 * * 1" '
            "(minute hour day-of-month month day-of-week, in UTC)."
        ) from None
    return text


def next_after(cron: str, when: dt.datetime) -> dt.datetime:
    """The first tick of ``cron`` strictly after ``when`` (UTC)."""
    start = when.astimezone(dt.UTC).replace(microsecond=0)
    return next(CronSim(cron, start))


def due(cron: str, last: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The first tick of ``cron`` in ``(last, now]``, or None. Ticks missed while no agent ran
    fire once, not once each: the caller moves ``last`` to ``now``."""
    tick = next_after(cron, last)
    return tick if tick <= now else None
