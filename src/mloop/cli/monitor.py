"""`mloop monitor ENDPOINT`: evaluate the endpoint's monitor now, store what it measured and the
alerts it raised, deliver them, and say in plain words what changed; exit 1 when a threshold is
crossed. `mloop alerts ls` lists the alerts (see mloop.monitoring.alerts for their JSON shape)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, console, fmt_time, print_json, print_table

if TYPE_CHECKING:
    from mloop.monitoring.monitor import MonitorResult

alerts_app = typer.Typer(
    help="Alerts raised by monitors, with their webhook deliveries.", no_args_is_help=True
)

PERFORMANCE_SHOWN = ("estimated.roc_auc", "realised.roc_auc", "labelled_share")
VERSION_METRICS = (
    "predictions",
    "latency_p99_ms",
    "error_rate",
    "rejection_rate",
    "shadow_disagreement_rate",
)


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _figure(metric: str, value: float | None) -> str:
    if value is not None and metric in ("predictions", "requests"):
        return f"{value:,.0f}"
    return _value(value)


def _verdict(result: MonitorResult) -> None:
    rows = []
    for check in result.checks:
        verdict = {"ok": "ok", "crossed": "CROSSED", "no data": "no data"}[check.status]
        if check.alerted_before:
            verdict += " (alerted before)"
        worst = f"{check.worst_segment}: {_value(check.worst_value)}" if check.worst_segment else ""
        rows.append(
            (check.threshold.metric, _value(check.value), str(check.threshold), verdict, worst)
        )
    title = (
        f"{result.endpoint}: {result.records:,} predictions, "
        f"{fmt_time(result.window_start)} to {fmt_time(result.window_end)} UTC"
    )
    if rows:
        print_table(["metric", "value", "threshold", "verdict", "worst segment"], rows, title=title)
    else:
        typer.echo(title)
    versions: dict[tuple[str, str], dict[str, float | None]] = {}
    for p in result.points:
        if p.model is not None:
            versions.setdefault((f"{p.model}@{p.version}", p.role or ""), {})[p.metric] = p.value
    shown = [
        m
        for m in (*VERSION_METRICS, *PERFORMANCE_SHOWN)
        if any(v.get(m) is not None for v in versions.values()) or m in VERSION_METRICS
    ]
    if versions:
        print_table(
            ["version", "role", *shown],
            [
                (ref, role, *(_figure(m, v.get(m)) for m in shown))
                for (ref, role), v in versions.items()
            ],
        )
    for alert in result.alerts:
        sent = ", ".join(f"{d.url} {d.status} after {d.attempts}" for d in alert.deliveries)
        typer.echo(
            f"Alert {alert.id} ({alert.kind}): {alert.message}"
            + (f"; webhooks: {sent}" if sent else "")
        )
    for note in result.notes:
        typer.echo(f"Note: {note}.")
    console().print(result.summary, highlight=False, markup=False)


def monitor(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The endpoint whose monitor to run.")],
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="24h (ending now) or START/END in ISO 8601 (UTC if bare); default: the monitor's window.",
        ),
    ] = None,
    as_json: JsonOption = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write a self-contained HTML report here.")
    ] = None,
) -> None:
    """Check an endpoint's prediction log now: drift, performance, latency, KPIs per segment; exit 1 on a crossed threshold."""
    from mloop.errors import InvalidInput
    from mloop.monitoring.monitor import evaluate

    if report is not None and not report.parent.is_dir():  # before anything is stored
        raise InvalidInput(
            f"Cannot write the report to {report}: folder {report.parent} does not exist; "
            "create it or choose another path."
        )
    with open_workspace(ctx) as ws:
        result = evaluate(ws, endpoint, window=window)
        if report is not None:
            from mloop.monitoring.monitor_config import monitor_config
            from mloop.monitoring.monitor_report import write_monitor_report

            config = monitor_config(ws.settings.raw, endpoint)
            write_monitor_report(ws.store, result, config, report)
    if as_json:
        print_json(result.to_dict())
    else:
        _verdict(result)
        if report is not None:
            typer.echo(f"Report written to {report}.")
    if not result.passed:
        raise typer.Exit(1)


@alerts_app.command("ls")
def ls(
    ctx: typer.Context,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only this endpoint's alerts.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="The newest N alerts.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first, with where each was delivered."""
    from mloop.monitoring.alerts import list_alerts

    with open_workspace(ctx) as ws:
        alerts = list_alerts(ws.store, endpoint=endpoint, limit=limit)
    if as_json:
        print_json([a.to_dict() for a in alerts])
        return
    if not alerts:
        typer.echo(
            "No alerts"
            + (f" for {endpoint}" if endpoint else "")
            + "; `mloop monitor ENDPOINT` checks one."
        )
        return
    rows: list[tuple[Any, ...]] = []
    for a in alerts:
        sent = ", ".join(f"{d.status} ({d.attempts})" for d in a.deliveries) or "-"
        rows.append(
            (
                a.id,
                fmt_time(a.created_at),
                a.endpoint,
                a.kind,
                a.threshold,
                _value(a.value),
                sent,
                a.message,
            )
        )
    print_table(
        ["id", "created (UTC)", "endpoint", "kind", "threshold", "value", "webhooks", "message"],
        rows,
    )
