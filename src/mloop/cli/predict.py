"""`mloop predict`: score a CSV or Parquet file with a registered model, in bounded memory.

stdout gets one line (``job=… model=… scored=… rejected=… output=…``) or ``--json``; the
progress bar and notes go to stderr. Exit 1 when some rows were rejected (written to the rejects
file with their reasons), 2 for a bad model ref, path or file, with nothing written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, chatter_to_stderr, err_console, note, print_json

if TYPE_CHECKING:
    from collections.abc import Callable

    from mloop.batch.files import Progress


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[Progress], None]]:
    """A Rich bar on stderr: rows done (of the total when the file says), share of the file read.
    None where stderr is not a terminal: a script's or a scheduler's log would get the blank
    line Rich ends a bar it cannot redraw with."""
    from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    console = err_console()
    if not console.is_terminal:
        yield lambda done: None
        return
    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: Progress) -> None:
            rows = f"{done.rows_read:,}" + (
                f" / {done.total_rows:,}" if done.total_rows is not None else ""
            )
            bar.update(
                task,
                description=f"{label}: {rows} rows",
                total=None if done.fraction is None else 1.0,
                completed=done.fraction or 0.0,
            )

        yield update


def predict(
    ctx: typer.Context,
    model_ref: Annotated[str, typer.Argument(help="Model version: NAME@N or NAME@ALIAS.")],
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            "-i",
            help="CSV or Parquet file to score, or a folder of Parquet files (scored through "
            "Ray Data when MLOOP_EXECUTOR=ray).",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Where the scored rows go: .csv (.csv.gz, .csv.zst, .tsv) or .parquet.",
        ),
    ],
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", help="Rows read, checked and scored at a time.")
    ] = 100_000,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            help="Where rows that break the model's rules go, with their reasons "
            "(default: OUTPUT's name with .rejects.csv, written only if there are any).",
            show_default=False,
        ),
    ] = None,
    sep: Annotated[
        str | None,
        typer.Option(
            "--sep", help="CSV separator (one character, 'tab' or 'space'); sniffed if not given."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Score a file with a registered model: predictions (and class probabilities) beside the
    input columns, rows that break the model's rules left out and listed in the rejects file,
    the job recorded with the model version and content hashes (`mloop jobs show`)."""
    from contextlib import ExitStack

    from mloop.batch.files import score_file
    from mloop.data.io import empty_rows_note, parse_separator
    from mloop.executors import Executor, executor_settings, open_executor

    separator = None if sep is None else parse_separator(sep)
    with (
        open_workspace(ctx) as ws,
        ExitStack() as stack,
    ):
        settings = executor_settings(ws.settings.raw)

        def start_ray() -> Executor:
            return stack.enter_context(open_executor(settings))

        progress = stack.enter_context(_progress_bar(f"scoring {input.name} with {model_ref}"))
        stack.enter_context(chatter_to_stderr())
        result = score_file(
            ws.store,
            ws.artifacts,
            model_ref=model_ref,
            input=input,
            output=output,
            rejects=rejects,
            chunk_rows=chunk_rows,
            sep=separator,
            actor=ws.user,
            root=ws.root,
            progress=progress,
            start_executor=start_ray if settings.kind == "ray" else None,  # for a folder only
        )
    for said in filter(
        None, [empty_rows_note(result.input, result.empty_rows, scored=True), *result.notes]
    ):
        note(said)
    if result.warnings:
        shown = ", ".join(f"{key} {count:,}" for key, count in result.warnings.items())
        note(
            f"values flagged but scored ({shown}); `mloop jobs show {result.job_id}` keeps the counts."
        )
    if as_json:
        print_json(result.to_dict())
    else:
        line = (
            f"job={result.job_id} model={result.model} scored={result.rows_scored} "
            f"rejected={result.rows_rejected} output={result.output}"
        )
        if result.rejects is not None:
            line += f" rejects={result.rejects}"
        typer.echo(line)
    if not result.ok:
        raise typer.Exit(1)
