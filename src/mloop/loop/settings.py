"""``[agent]`` in mloop.toml: how often the agent looks, and how long a job's lease lasts.

A lease lapses within a minute by default (30 s, renewed every 10 s), so a crashed agent's job is
picked up again quickly; tests shorten both. ``monitor_every`` makes the agent run the declared
monitors itself, so alerts appear without a cron job calling ``mloop monitor``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mloop.errors import InvalidInput
from mloop.predlog.timespec import parse_duration

KEYS = ("tick", "lease", "heartbeat", "monitor_every")


@dataclass(frozen=True)
class AgentSettings:
    tick: float = 5.0  # seconds between looks at triggers, leases and rollouts
    lease: float = 30.0  # a running job's lease; lapsed after this long without a renewal
    heartbeat: float = 10.0  # how often the lease is renewed
    monitor_every: dt.timedelta | None = None  # run declared monitors this often (None: never)


def _seconds(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    try:
        return parse_duration(value, option=f"[agent] {key}").total_seconds()
    except InvalidInput as exc:
        raise InvalidInput(f"mloop.toml: {exc.message}") from None


def agent_settings(raw_settings: Mapping[str, Any]) -> AgentSettings:
    """``[agent]`` of the whole mloop.toml; raises ``InvalidInput`` naming a bad key."""
    raw = raw_settings.get("agent", {})
    if not isinstance(raw, Mapping):
        raise InvalidInput('[agent] in mloop.toml must be a table like [agent] tick = "5s".')
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise InvalidInput(
            f"[agent] in mloop.toml: unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}."
        )
    lease = _seconds(raw, "lease", 30.0)
    heartbeat = _seconds(raw, "heartbeat", min(10.0, lease / 3))
    if heartbeat >= lease:
        raise InvalidInput(
            f"[agent] in mloop.toml: heartbeat ({heartbeat:g}s) must be shorter than lease "
            f"({lease:g}s), or every lease lapses before it is renewed; use about a third of it."
        )
    every = raw.get("monitor_every")
    monitor_every = None
    if every is not None:
        monitor_every = dt.timedelta(seconds=_seconds(raw, "monitor_every", 0.0))
    return AgentSettings(
        tick=_seconds(raw, "tick", 5.0),
        lease=lease,
        heartbeat=heartbeat,
        monitor_every=monitor_every,
    )
