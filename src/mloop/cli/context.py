"""The state every command shares: where the workspace is, and whether to show tracebacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from mloop.workspace import Workspace


@dataclass
class CliState:
    workspace: str | None = None
    debug: bool = False


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def open_workspace(ctx: typer.Context) -> Workspace:
    # Imported here: the store (SQLAlchemy) is most of a command's start-up, and `--help`
    # or a usage error never opens it.
    from mloop.workspace import Workspace

    return Workspace.open(state(ctx).workspace)


def check_endpoint_filter(ws: Workspace, endpoint: str) -> None:
    """For a listing filtered by ``--endpoint`` that found nothing: ``NotFound`` when the name is
    neither an endpoint of the store nor a policy of mloop.toml (a typo, not an empty history)."""
    from mloop.endpoints.service import check_listed_endpoint

    policies = ws.settings.raw.get("policies")
    check_listed_endpoint(ws.store, endpoint, policies if isinstance(policies, dict) else ())
