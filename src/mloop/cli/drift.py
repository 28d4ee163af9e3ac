"""`mloop drift REFERENCE CURRENT`: which columns changed, by how much, and the dataset verdict.

Exit 0 without dataset drift, 1 with it, 2 for bad input. ``print_drift`` is shared with
``mloop data diff``, which shows the same table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, console, err_console, print_json, print_table


def print_drift(report: Any, *, title: str | None = None) -> None:
    """The drift table, the summary lines, and the columns that were not compared."""
    from mloop.monitoring.drift_page import summary_lines
    from mloop.monitoring.explain import number

    rows = [
        (
            c.column,
            c.kind,
            c.method,
            number(c.score),
            number(c.threshold),
            "DRIFT" if c.drifted else "ok",
            c.explanation.partition(": ")[2],
        )
        for c in report.columns
    ]
    print_table(
        ["column", "kind", "method", "score", "threshold", "verdict", "what changed"],
        rows,
        title=title,
    )
    out = console()
    for line in summary_lines(report)[:1] + [
        line
        for line in summary_lines(report)[1:]
        if line not in {c.explanation for c in report.columns}
    ]:
        out.print(line, highlight=False, markup=False)
    for skipped in report.skipped:
        out.print(
            f"not compared: {skipped.column} ({skipped.reason})", highlight=False, markup=False
        )


def drift(
    ctx: typer.Context,
    reference: Annotated[
        str,
        typer.Argument(help="NAME@V (a stored profile), a CSV/Parquet file, or ENDPOINT:24h."),
    ],
    current: Annotated[
        str,
        typer.Argument(
            help="The data to check, in the same forms (ENDPOINT:START/END in ISO 8601)."
        ),
    ],
    column_method: Annotated[
        list[str] | None,
        typer.Option(
            "--column-method",
            help="COL=METHOD[:THRESHOLD] (ks, chisquare, psi, jensenshannon, wasserstein); "
            "* for every column. Repeatable.",
        ),
    ] = None,
    drift_share: Annotated[
        float,
        typer.Option(
            "--drift-share", help="Dataset drift when at least this share of columns drift."
        ),
    ] = 0.5,
    as_json: JsonOption = False,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Also write a self-contained HTML report.")
    ] = None,
) -> None:
    """Compare CURRENT with REFERENCE column by column: exit 1 on dataset drift, 0 without."""
    from mloop.monitoring.drift import compare, parse_column_methods
    from mloop.monitoring.sources import sides
    from mloop.predlog import folder_for

    methods = parse_column_methods(column_method or [])
    with open_workspace(ctx) as ws, err_console().status("comparing"):
        ref, cur = sides(reference, current, ws.store, folder_for(ws.settings))
        result = compare(ref, cur, column_methods=methods, drift_share=drift_share)
    if report_path is not None:
        from mloop.monitoring.drift_page import drift_page
        from mloop.monitoring.report import write_report

        written = write_report(drift_page(result), report_path)
        err_console().print(f"report written to {written}", highlight=False, markup=False)
    if as_json:
        print_json(result.to_json())
    else:
        print_drift(result, title=f"{result.current} against {result.reference}")
    if result.dataset_drift:
        raise typer.Exit(1)
