"""`mloop init` and `mloop artifacts verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, err_console, print_json

artifacts_app = typer.Typer(
    help="Inspect the content-addressed artifact store.", no_args_is_help=True
)


def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
) -> None:
    """Create a workspace: mloop.toml plus .mloop/ (SQLite store and artifact folder)."""
    from mloop.workspace import Workspace

    workspace, created = Workspace.init(directory)
    with workspace:
        verb = "Initialised" if created else "Already initialised; upgraded"
        typer.echo(f"{verb} mloop workspace in {workspace.root}")
        typer.echo(f"store={workspace.settings.store_url}")
        typer.echo(f"artifacts={workspace.settings.artifacts_url}")


@artifacts_app.command("verify")
def verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Re-hash every blob and check every blob the metadata names exists. Exit 1 on any problem."""
    from rich.progress import Progress

    from mloop.artifacts.verify import verify_store

    with open_workspace(ctx) as ws, Progress(console=err_console(), transient=True) as bar:
        task = bar.add_task("verifying", total=None)
        report = verify_store(
            ws.store,
            ws.artifacts,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        found = [
            {"hash": p.hash, "problem": p.problem, "used_by": report.used_by.get(p.hash, [])}
            for p in report.problems
        ]
        print_json({"checked": report.checked, "ok": report.ok, "problems": found})
    else:
        for problem in report.problems:
            users = report.used_by.get(problem.hash) or ["nothing in the metadata"]
            typer.echo(f"blake3:{problem.hash}  {problem.problem}; used by {', '.join(users)}")
        problems = len(report.problems)
        typer.echo(
            f"{report.checked} blob{'s' * (report.checked != 1)} checked, "
            f"{problems} problem{'s' * (problems != 1)}"
        )
    if not report.ok:
        raise typer.Exit(1)
