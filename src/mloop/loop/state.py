"""``agent_state``: what the agents have already seen, keyed by a short path.

Keys: ``schedule:ENDPOINT:N`` (the last time trigger N's cron was evaluated), ``alerts:ENDPOINT``
(the newest alert id seen), ``dataset:ENDPOINT:NAME`` (the newest version seen), ``monitor:ENDPOINT``
(when the agent last ran the monitor) and ``agent:OWNER`` (a running agent's heartbeat). Read and
written inside the agent's scan transaction, so a restarted agent neither misses nor repeats.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mloop.store import tables as t
from mloop.store.inserts import insert_if_absent


def get(conn: sa.Connection, key: str) -> dict[str, Any] | None:
    value = conn.execute(
        sa.select(t.agent_state.c.value).where(t.agent_state.c.key == key)
    ).scalar()
    return None if value is None else dict(value)


def put(conn: sa.Connection, key: str, value: dict[str, Any], now: dt.datetime) -> None:
    values = {"key": key, "value": value, "updated_at": now}
    if not insert_if_absent(conn, t.agent_state, values, unique=["key"]):
        conn.execute(
            t.agent_state.update()
            .where(t.agent_state.c.key == key)
            .values(value=value, updated_at=now)
        )


def delete(conn: sa.Connection, key: str) -> None:
    conn.execute(t.agent_state.delete().where(t.agent_state.c.key == key))


def alive_agents(conn: sa.Connection, now: dt.datetime) -> list[dict[str, Any]]:
    """Agents whose heartbeat is fresh (within three of their ticks, and at least 15 s)."""
    rows = conn.execute(
        sa.select(t.agent_state).where(t.agent_state.c.key.startswith("agent:", autoescape=True))
    )
    found = []
    for row in rows:
        beat = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=dt.UTC)
        tick = float(dict(row.value).get("tick", 5.0))
        if now - beat <= dt.timedelta(seconds=max(3 * tick, 15.0)):
            found.append({"owner": row.key.removeprefix("agent:"), **dict(row.value)})
    return found
