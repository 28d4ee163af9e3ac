"""`mloop logs ENDPOINT`: the prediction log, newest last, as a table, JSON or an exported file.

Without ``--limit`` the table and ``--json`` show the newest 20 records (a log holds millions;
a hint on stderr says when there are more), while ``--export`` writes every selected record.
``--json`` prints one JSON array, like every other ``--json`` in mloop, each record in the shape
the server logged it (``inputs`` and ``probabilities`` as objects); for bulk extracts use
``--export F.parquet`` (or ``.csv``), which streams through DuckDB and is written atomically.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli.context import state
from mloop.cli.output import JsonOption, err_console, print_json, print_table

DEFAULT_SHOWN = 20
CELL_WIDTH = 60  # inputs and errors are clipped in the table; --json has them whole


def _settings(ctx: typer.Context) -> Any:
    from mloop.config import find_workspace, load_settings

    return load_settings(find_workspace(state(ctx).workspace))


def _when(value: str | None, option: str) -> dt.datetime | None:
    from mloop.predlog import parse_when

    return None if value is None else parse_when(value, option=option)


def _clip(text: str) -> str:
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def _inputs_text(inputs: dict[str, Any]) -> str:
    return _clip(", ".join(f"{k}={v}" for k, v in inputs.items()))


def _show(rows: list[dict[str, Any]]) -> None:
    with_errors = any(r.get("error") for r in rows)
    columns = ["time (UTC)", "prediction id", "role", "model", "rev", "status", "ms", "prediction"]
    columns += ["error"] if with_errors else []
    columns.append("inputs")
    table = []
    for r in rows:
        stamp = r["timestamp"]
        cells = [
            stamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if stamp else "",
            r.get("prediction_id") or "",
            r.get("role") or "",
            f"{r['model']}@{r['version']}" if r.get("model") else "",
            r.get("revision"),
            r.get("status"),
            f"{r['latency_ms']:.2f}" if r.get("latency_ms") is not None else "",
            r.get("prediction"),
        ]
        cells += [_clip(r.get("error") or "")] if with_errors else []
        cells.append(_inputs_text(r["inputs"]))
        table.append(cells)
    print_table(columns, table)


def logs(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The endpoint whose log to read.")],
    since: Annotated[
        str | None,
        typer.Option("--since", help="From this time: 10m, 2h, 7d ago, or ISO 8601 (UTC if bare)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before this time (same forms as --since).")
    ] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="Only primary, canary or shadow records.")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=0,
            help=f"The newest N records (default {DEFAULT_SHOWN}; every record with --export).",
        ),
    ] = None,
    as_json: JsonOption = False,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write the records to F.parquet or F.csv instead."),
    ] = None,
) -> None:
    """Show an endpoint's prediction log: inputs, prediction, model, role, latency, newest last."""
    from mloop.errors import InvalidInput
    from mloop.predlog import export_log, folder_for, nested, read_log

    start, end = _when(since, "--since"), _when(until, "--until")
    if start is not None and end is not None and end <= start:
        raise InvalidInput(
            f"--until {until!r} is not after --since {since!r}, so no record can match; "
            "give the earlier time to --since (a duration counts back from now: --since 2h "
            "--until 1h)."
        )
    if role is not None and role not in ("primary", "canary", "shadow"):
        raise InvalidInput(f"--role {role!r} is not one of primary, canary, shadow.")
    folder = folder_for(_settings(ctx))
    if export is not None:
        count = export_log(folder, endpoint, export, since=start, until=end, role=role, limit=limit)
        if as_json:
            print_json({"path": str(export), "records": count})
        else:
            typer.echo(f"Wrote {count:,} record{'' if count == 1 else 's'} to {export}.")
        return
    shown = DEFAULT_SHOWN if limit is None else limit
    # one more than shown tells whether there are more to mention, without counting them all
    table = read_log(
        folder, endpoint, since=start, until=end, role=role, limit=shown + (limit is None)
    )
    rows = [nested(r) for r in table.to_pylist()]
    more = len(rows) > shown
    rows = rows[len(rows) - shown :] if more else rows
    if as_json:
        print_json(rows)
    elif rows:
        _show(rows)
    else:
        typer.echo(f"No records in the log of {endpoint} match.")
    if more:
        err_console().print(
            f"Showing the newest {shown}; --limit N shows more, --export F.parquet writes them all.",
            highlight=False,
        )
