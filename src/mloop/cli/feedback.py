"""`mloop feedback ENDPOINT --input F --label-column COL`: labels that arrived later, joined to the log.

Each row of the CSV or Parquet file names a prediction by id (``--id-column``, default
``prediction_id`` or ``id``, whichever the file has) or by routing key (``--key-column``) and
gives its label. Exit 0 when any label matched a logged prediction (the unmatched are counted
and the first few named), 1 when none matched (nothing stored: the file or the endpoint is
probably not the one meant), 2 on bad input (nothing stored either).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, err_console, note, print_json

DEFAULT_ID_COLUMNS = ("prediction_id", "id")


def _pick_column(names: list[str], given: str | None, option: str, path: Path) -> str:
    from mloop.errors import InvalidInput

    if given is not None:
        if given not in names:
            raise InvalidInput(
                f"{path} has no column {given!r} for {option}; its columns: {', '.join(names)}."
            )
        return given
    found = next((c for c in DEFAULT_ID_COLUMNS if c in names), None)
    if found is None:
        raise InvalidInput(
            f"{path} has no prediction_id or id column; name the one holding prediction ids "
            "with --id-column, or routing keys with --key-column."
        )
    return found


def feedback(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The endpoint whose predictions are labelled.")],
    input_file: Annotated[
        Path, typer.Option("--input", help="A CSV or Parquet file with the labels.")
    ],
    label_column: Annotated[
        str, typer.Option("--label-column", help="The column holding the true labels.")
    ],
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column",
            help="The column holding prediction ids (the ids a predict answer lists); "
            "default prediction_id or id.",
        ),
    ] = None,
    key_column: Annotated[
        str | None,
        typer.Option(
            "--key-column",
            help="Label by routing key instead: every prediction logged with the key gets the label.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record true labels for an endpoint's logged predictions (a label sent again replaces the old)."""
    import numpy as np
    import pyarrow as pa

    from mloop.data.io import EmptyRows, empty_rows_note, read_arrow
    from mloop.errors import InvalidInput
    from mloop.monitoring.feedback import record_labels
    from mloop.monitoring.model_outputs import endpoint_output, registry_output_of, served_outputs
    from mloop.predlog import folder_for

    if id_column is not None and key_column is not None:
        raise InvalidInput("Give --id-column or --key-column, not both.")
    empty = EmptyRows()
    table = read_arrow(input_file, empty=empty)
    names = list(table.column_names)
    if table.num_rows == 0:
        raise InvalidInput(f"{input_file} has no rows; a labels file needs one row per label.")
    if label_column not in names:
        raise InvalidInput(
            f"{input_file} has no column {label_column!r} for --label-column; "
            f"its columns: {', '.join(names)}."
        )
    if key_column is not None:
        kind, column = "key", _pick_column(names, key_column, "--key-column", input_file)
    else:
        kind, column = "id", _pick_column(names, id_column, "--id-column", input_file)
    labels = pa.table({kind: table.column(column), "label": table.column(label_column)})
    with open_workspace(ctx) as ws:
        root = folder_for(ws.settings)
        result = record_labels(
            root,
            endpoint,
            labels,
            output=endpoint_output(ws.store, root, endpoint),
            served=served_outputs(ws.store, endpoint),
            output_of=registry_output_of(ws.store),
            where=f"in column {label_column!r} ",
            row_name=lambda index: f"Row {empty.in_file(np.array([index + 1]))[0]} of {input_file}",
            source_names={kind: column},
        )
    skipped = empty_rows_note(input_file, empty.count)
    if skipped:
        note(skipped)
    if as_json:
        print_json(result.to_json())
    elif not result.matched:
        column_option = "--key-column" if kind == "key" else "--id-column"
        typer.echo(
            f"No label matched a prediction logged by {endpoint}; nothing stored. Check the "
            f"endpoint and {column_option} ({column!r})."
        )
    else:
        typer.echo(
            f"Stored {result.stored:,} label{'' if result.stored == 1 else 's'} for {endpoint}"
            + (f" ({result.replaced:,} replaced an earlier label)" if result.replaced else "")
            + "."
        )
    if result.new_classes:
        note(
            f"{', '.join(repr(c) for c in result.new_classes)} "
            f"{'is' if len(result.new_classes) == 1 else 'are'} none of the classes the "
            f"endpoint's models know; stored as new, counted as wrong predictions until a model "
            "learns them (retrain on the labelled rows).",
        )
    if result.unmatched:
        shown = ", ".join(result.unmatched_ids)
        more = "…" if result.unmatched > len(result.unmatched_ids) else ""
        what = "key" if kind == "key" else "id"
        err_console().print(
            f"{result.unmatched:,} of {result.received:,} {what}s matched no logged prediction "
            f"and were not stored: {shown}{more}",
            markup=False,
            highlight=False,
        )
    if not result.matched:
        raise typer.Exit(1)
