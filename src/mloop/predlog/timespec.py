"""Time bounds as people type them: ``10m``, ``2h``, ``7d`` ago, or an ISO 8601 time (UTC if bare)."""

from __future__ import annotations

import datetime as dt
import re

from mloop.errors import InvalidInput

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|sec|m|min|h|d|w)\s*$")


def parse_when(
    text: str, *, option: str = "--since", now: dt.datetime | None = None
) -> dt.datetime:
    """``text`` as an aware UTC datetime: a duration counts back from ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    match = _DURATION.match(text)
    if match:
        return now - dt.timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is neither a duration (30s, 10m, 2h, 7d, 1w) nor an ISO 8601 "
            "time (2026-01-31 or 2026-01-31T12:00:00Z)."
        ) from None
    return as_utc(when)


def parse_duration(text: str, *, option: str = "--window") -> dt.timedelta:
    """A positive duration as people type it: ``30s``, ``10m``, ``24h``, ``7d``, ``1w``."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or float(match[1]) <= 0:
        raise InvalidInput(
            f"{option} {text!r} is not a positive duration such as 30s, 10m, 24h, 7d or 1w."
        )
    return dt.timedelta(seconds=float(match[1]) * _UNITS[match[2]])


def as_utc(when: dt.datetime) -> dt.datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already (as the log stores it)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)
