"""`mloop demo`: the files the README's tour uses, so a new user can follow it from the first line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mloop.errors import InvalidInput


def demo(
    folder: Annotated[Path, typer.Argument(help="Where to write the files.")] = Path("."),
    data_only: Annotated[
        bool,
        typer.Option(
            "--data-only", help="Write the tour's data files (churn.csv, next-month.csv) and stop."
        ),
    ] = False,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Rows per file.")] = 5000,
) -> None:
    """Write the quick tour's data: churn.csv (month 1) and next-month.csv (a drifted month 2).

    The whole loop, scripted end to end, is `make demo` in a clone of the repository.
    """
    if not data_only:
        raise InvalidInput(
            "`mloop demo` writes the tour's data with --data-only (`mloop demo --data-only DIR`); "
            "the whole loop runs end to end with `make demo` in a clone of the repository."
        )
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
