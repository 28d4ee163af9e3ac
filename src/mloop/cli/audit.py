"""`mloop audit`: the append-only record of every registry action."""

from __future__ import annotations

from typing import Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, fmt_time, print_json, print_table


def audit(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many entries.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Who did what, when, from what to what, and why: every register, approval, promotion and rollback."""
    from mloop.audit import list_entries
    from mloop.registry.versions import require_model

    with open_workspace(ctx) as ws:
        if model:
            require_model(ws.store, model)
        entries = list_entries(ws.store, model=model, limit=limit)
    if as_json:
        print_json(entries)
        return
    print_table(
        ["when", "actor", "action", "subject", "from", "to", "reason"],
        [
            (
                fmt_time(e.created_at),
                e.actor,
                e.action,
                e.subject,
                e.from_value or "",
                e.to_value or "",
                e.reason or "",
            )
            for e in entries
        ],
    )
