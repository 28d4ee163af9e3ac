"""`mloop demo`: the whole loop as a narrated story in a new folder, or just the tour's data files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mloop.errors import InvalidInput


def demo(
    folder: Annotated[
        Path | None,
        typer.Argument(help="A new or empty folder (default: mloop-demo; with --data-only: .)."),
    ] = None,
    data_only: Annotated[
        bool,
        typer.Option(
            "--data-only", help="Write the tour's data files (churn.csv, next-month.csv) and stop."
        ),
    ] = False,
    rows: Annotated[
        int | None, typer.Option("--rows", min=100, help="Rows per month's file.")
    ] = None,
) -> None:
    """Tell the whole loop on the embedded default: data, training, a gate, serving, drift, an
    alert, a policy that retrains, a canary promoted by its guardrails, a rogue candidate blocked
    and a failing canary rolled back (about 2-3 minutes on 2 cores).

    With --data-only, write the README tour's data (churn.csv, next-month.csv) and stop.
    """
    if data_only:
        _write_tour_files(folder or Path("."), rows or 5000)
        return
    from mloop.demo.story import Story

    folder = folder or Path("mloop-demo")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInput(
            f"{folder} is not an empty folder; give a new one (mloop demo NEW_FOLDER) "
            "or remove it first."
        )
    from mloop.cli.app import main

    Story(folder.resolve(), color=sys.stdout.isatty(), rows=rows or 1500, cli=main).run()


def _write_tour_files(folder: Path, rows: int) -> None:
    from mloop.demo_data import TOUR_FILES, write_tour_files

    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"{folder} is a file; give a folder to write the tour's data into.")
    existing = [folder / name for name, _, _ in TOUR_FILES if (folder / name).exists()]
    if existing:
        raise InvalidInput(
            f"{existing[0]} already exists; give an empty or new folder, or move it away first."
        )
    for path in write_tour_files(folder, rows=rows):
        typer.echo(f"wrote {path}")
    typer.echo(f"next, in {folder}: mloop init, then the README's quick tour")
