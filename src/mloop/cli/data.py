"""`mloop data …`: snapshot, list, show, diff, validate, and edit the schema of datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import (
    JsonOption,
    console,
    err_console,
    fmt_number,
    fmt_time,
    note,
    print_json,
    print_table,
)
from mloop.errors import InvalidInput, ValidationFailed
from mloop.plural import plural

app = typer.Typer(help="Versioned, validated datasets (CSV or Parquet).", no_args_is_help=True)


def _violations_table(report: Any, title: str, *, warnings: bool = False) -> None:
    found = report.warnings if warnings else report.violations
    print_table(
        ["column", "rule", "count", "example rows", "example values", "what"],
        [
            (
                v.column,
                v.rule,
                v.count,
                ", ".join(map(str, v.examples)),
                ", ".join(map(repr, v.values)),
                v.message,
            )
            for v in found
        ],
        title=title,
    )


def _refuse_swapped(command: str, name: str, path: Path) -> None:
    """``mloop data add churn.csv churn``: say the order, not that a file called churn is missing."""
    if not path.exists() and Path(name).is_file():
        raise InvalidInput(
            f"{path} is not a file but {name} is; the dataset name comes first: "
            f"`mloop data {command} {path} {name}`."
        )


SepOption = Annotated[
    str | None,
    typer.Option(
        "--sep",
        help="CSV separator: one character, 'tab', or 'space' for runs of spaces "
        "(default: sniffed from the header).",
    ),
]


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    validate: Annotated[
        bool, typer.Option("--validate", help="Refuse a version that breaks the current schema.")
    ] = False,
    sep: SepOption = None,
    as_json: JsonOption = False,
) -> None:
    """Snapshot a file as the next version (the same bytes again are the same version).

    CSV, TSV or space-separated text, plain or compressed (gzip, bzip2, xz, zstd), or Parquet.
    """
    from mloop.data.datasets import add_version
    from mloop.data.io import parse_separator
    from mloop.hashing import display

    _refuse_swapped("add", name, path)
    separator = None if sep is None else parse_separator(sep)
    with open_workspace(ctx) as ws, err_console().status(f"snapshotting {path}"):
        try:
            result = add_version(
                ws.store,
                ws.artifacts,
                name=name,
                path=path,
                actor=ws.user,
                validate=validate,
                root=ws.root,
                sep=separator,
            )
        except ValidationFailed as failure:
            if failure.details is not None and not as_json:
                _violations_table(failure.details, f"{path} against {name}'s schema")
            if as_json and failure.details is not None:
                print_json({"created": False, "violations": failure.details.violations})
            raise
    version = result.version
    for warning in result.warnings:
        err_console().print(f"warning: {warning}", highlight=False, markup=False)
    for said in result.notes:
        note(said)
    if as_json:
        print_json(
            {
                "dataset": version.ref,
                "hash": display(version.content_hash),
                "created": result.created,
                "rows": version.row_count,
                "columns": version.column_count,
            }
        )
        return
    if result.created:
        typer.echo(f"dataset={version.ref} ({display(version.content_hash)})")
        typer.echo(f"rows={version.row_count} columns={version.column_count}")
    else:
        typer.echo(
            f"dataset={version.ref} ({display(version.content_hash)}) unchanged: these bytes are already version {version.version}"
        )


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List datasets with their latest version."""
    from mloop.data.datasets import list_datasets

    with open_workspace(ctx) as ws:
        datasets = list_datasets(ws.store)
    if as_json:
        print_json(datasets)
        return
    if not datasets:
        typer.echo("No datasets yet; add one with `mloop data add NAME FILE`.")
        return
    print_table(
        ["dataset", "versions", "latest", "rows", "columns", "hash", "updated"],
        [
            (
                d.name,
                d.versions,
                f"{d.name}@{d.latest_version}",
                d.rows,
                d.columns,
                d.content_hash[:12],
                fmt_time(d.updated_at),
            )
            for d in datasets
        ],
    )


SHOWN_ALLOWED = 8


def _allowed_value(value: Any) -> str:
    """A value as written, or JSON-quoted when bare text would be ambiguous in ``{a, b}``."""
    text = str(value)
    plain = text and text == text.strip() and text.isprintable()
    if plain and not any(c in text for c in ',{}"'):
        return text
    return json.dumps(text, ensure_ascii=False)


def _allowed_rule(allowed: list[Any]) -> str:
    shown = ", ".join(_allowed_value(v) for v in allowed[:SHOWN_ALLOWED])
    more = len(allowed) - SHOWN_ALLOWED
    return f"in {{{shown}{f', … and {more} more' if more > 0 else ''}}}"


def _stat(profile: dict[str, Any], key: str) -> str:
    return fmt_number(profile.get(key)) if key in profile else ""


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME, NAME@N or NAME@latest.")],
    as_json: JsonOption = False,
) -> None:
    """Show a version: hash, source, schema with rules, and the per-column profile."""
    from mloop.data.datasets import get_version

    with open_workspace(ctx) as ws:
        version = get_version(ws.store, ref)
    if as_json:
        print_json(
            {
                **{k: v for k, v in version.__dict__.items() if k != "schema"},
                "ref": version.ref,
                "schema": version.schema.to_json(),
            }
        )
        return
    out = console()
    out.print(f"[bold]{version.ref}[/]  blake3:{version.content_hash}")
    out.print(
        f"{plural(version.row_count, 'row')} × {plural(version.column_count, 'column')}, {version.format}, {version.size_bytes} bytes, from {version.source_path}"
    )
    out.print(f"added {fmt_time(version.created_at)} by {version.created_by}")
    columns = version.profile.get("columns", {})
    rows = []
    for column in version.schema.columns:
        stats = columns.get(column.name, {})
        rule_bits = [] if column.nullable else ["not null"]
        if column.min is not None and column.max is not None:
            rule_bits.append(f"[{fmt_number(column.min)}, {fmt_number(column.max)}]")
        elif column.min is not None:
            rule_bits.append(f">= {fmt_number(column.min)}")
        elif column.max is not None:
            rule_bits.append(f"<= {fmt_number(column.max)}")
        if column.allowed is not None:
            rule_bits.append(_allowed_rule(column.allowed))
        if column.unique:
            rule_bits.append("unique")
        rows.append(
            (
                column.name,
                column.type,
                "; ".join(rule_bits),
                f"{stats.get('null_rate', 0):.1%}",
                stats.get("distinct", ""),
                _stat(stats, "mean"),
                _stat(stats, "std"),
                _stat(stats, "min"),
                _stat(stats, "max"),
            )
        )
    headers = ["column", "type", "rules", "nulls", "distinct", "mean", "std", "min", "max"]
    print_table(headers, rows)


@app.command("diff")
def diff(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="NAME@A")],
    b: Annotated[str, typer.Argument(help="NAME@B")],
    as_json: JsonOption = False,
) -> None:
    """Schema changes, per-column statistic changes and drift (as `mloop drift A B`) between two versions."""
    from mloop import render
    from mloop.cli.drift import print_drift
    from mloop.data.datasets import get_version
    from mloop.data.diff import diff_versions
    from mloop.data.profile import DatasetProfile
    from mloop.monitoring.drift import Side, compare

    with open_workspace(ctx) as ws:
        first, second = get_version(ws.store, a), get_version(ws.store, b)
    result = diff_versions(first, second)
    drift = compare(
        Side(first.ref, DatasetProfile.from_json(first.profile)),
        Side(second.ref, DatasetProfile.from_json(second.profile)),
    )
    if as_json:
        print_json({**render.plain(result), "drift": drift.to_json()})
        return
    out = console()
    out.print(f"[bold]{result.a} → {result.b}[/]: rows {result.rows[0]} → {result.rows[1]}")
    if result.added_columns:
        out.print(f"[green]+ columns:[/] {', '.join(result.added_columns)}")
    if result.removed_columns:
        out.print(f"[red]- columns:[/] {', '.join(result.removed_columns)}")
    if result.schema_changes:
        print_table(
            ["column", "rule", "before", "after"],
            [(c.column, c.field, c.before, c.after) for c in result.schema_changes],
            title="schema",
        )
    if result.stat_changes:
        print_table(
            ["column", "statistic", "before", "after", "change"],
            [
                (
                    c.column,
                    c.field,
                    fmt_number(c.before),
                    fmt_number(c.after),
                    "" if c.change is None else f"{c.change:+.1%}",
                )
                for c in result.stat_changes
            ],
            title="statistics",
        )
    if result.category_changes:
        print_table(
            ["column", "category", "share before", "share after", "change"],
            [
                (c.column, c.field, f"{c.before:.1%}", f"{c.after:.1%}", f"{c.change:+.1%}")
                for c in result.category_changes
            ],
            title="categories",
        )
    if not (
        result.added_columns
        or result.removed_columns
        or result.schema_changes
        or result.stat_changes
        or result.category_changes
    ):
        out.print("no differences")
    if drift.columns:
        print_drift(drift, title="drift")


@app.command("validate")
def validate(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset whose current schema to check against.")],
    path: Annotated[Path, typer.Argument(help="CSV or Parquet file to check.")],
    sep: SepOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a file against a dataset's schema: exit 0 clean, 1 with every violation, 2 unreadable."""
    from mloop import render
    from mloop.data.datasets import new_columns_note, validate_file
    from mloop.data.io import empty_rows_note, parse_separator

    _refuse_swapped("validate", name, path)
    separator = None if sep is None else parse_separator(sep)
    with open_workspace(ctx) as ws, err_console().status(f"checking {path}"):
        report = validate_file(ws.store, name, path, root=ws.root, sep=separator)
    notes = [empty_rows_note(path, report.empty_rows), new_columns_note(name, report.new_columns)]
    for said in filter(None, notes):
        note(said)
    if as_json:
        print_json(render.validation(report))
        if not report.ok:
            raise typer.Exit(1)
        return
    if report.ok:
        typer.echo(
            f"{path}: {plural(report.rows_checked, 'row')}, no violations of {name}'s schema"
        )
    else:
        _violations_table(
            report,
            f"{path}: {plural(report.rows_checked, 'row')}, {plural(len(report.violations), 'violation')}",
        )
    if report.warnings:
        _violations_table(
            report,
            f"{plural(len(report.warnings), 'warning')} (reported, not failing: duplicate rows, outliers)",
            warnings=True,
        )
    if not report.ok:
        raise typer.Exit(1)


def _rule_value(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def _print_schema_changes(name: str, source: Path, imported: Any) -> None:
    changes = imported.changes
    verb = "replaced" if changes.mode == "replace" else "merged"
    typer.echo(f"schema of {name} is now revision {imported.revision} ({verb} from {source})")
    for label, columns in (
        ("added", changes.added),
        ("changed", changes.changed),
        ("removed", changes.removed),
        ("kept", changes.kept),
    ):
        if columns:
            typer.echo(f"{label}: {', '.join(columns)}")
    if changes.rules:
        print_table(
            ["column", "rule", "before", "after"],
            [
                (r.column, r.rule, _rule_value(r.before), _rule_value(r.after))
                for r in changes.rules
            ],
            title="rules changed",
        )
    else:
        typer.echo("no rule changed")


@app.command("schema")
def schema(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the current schema to this file (JSON).")
    ] = None,
    import_: Annotated[
        Path | None,
        typer.Option(
            "--import",
            help="Import this JSON file: columns it names take its rules, others keep theirs.",
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="With --import: the file is the whole schema; columns it omits lose their rules.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Print, export or import a dataset's schema (types and rules) as readable JSON."""
    from mloop.data.datasets import current_schema, import_schema
    from mloop.data.schema import Schema

    if export and import_:
        raise InvalidInput("--export and --import go one at a time.")
    if replace and not import_:
        raise InvalidInput("--replace goes with --import FILE; add the file to import.")
    with open_workspace(ctx) as ws:
        if import_:
            imported = import_schema(
                ws.store, name, Schema.from_file(import_), actor=ws.user, replace=replace
            )
            if as_json:
                print_json({"revision": imported.revision, **imported.changes.summary()})
            else:
                _print_schema_changes(name, import_, imported)
            return
        current = current_schema(ws.store, name)
    if export:
        current.to_file(export)
        typer.echo(f"wrote {name}'s schema to {export}")
    elif as_json:
        print_json(current.to_json())
    else:
        typer.echo(current.model_dump_json(indent=2))
