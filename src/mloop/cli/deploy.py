"""`mloop deploy`: serve a model version (or an alias, followed as it moves) at a named endpoint.

Each call writes one new immutable revision of the endpoint; docs/endpoints.md has the model.
Rendering of revisions is shared with `mloop endpoints` (``revision_lines``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, print_json

if TYPE_CHECKING:
    from mloop.endpoints.revisions import ModelSlot, Revision


def slot_text(slot: ModelSlot) -> str:
    """``churn@3 (follows churn@champion)`` or ``churn@3``."""
    return slot.ref + (f" (follows {slot.follows})" if slot.follows else "")


def revision_lines(revision: Revision) -> list[str]:
    """``key=value`` lines for one revision, the shape scripts parse."""
    traffic = revision.traffic
    lines = [
        f"endpoint={revision.endpoint}",
        f"revision={revision.number}",
        f"state={'staged' if revision.staged else 'live'}",
        f"primary={slot_text(revision.primary)} {traffic['primary']}%",
    ]
    if revision.canary is not None:
        lines.append(f"canary={slot_text(revision.canary)} {traffic['canary']}%")
    if revision.shadow is not None:
        lines.append(f"shadow={slot_text(revision.shadow)} (mirrored, never returned)")
    lines.append(f"runtime={revision.runtime}")
    if revision.source_revision is not None:
        lines.append(f"from_revision={revision.source_revision}")
    return lines


def deploy(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="Endpoint name, e.g. churn-api.")],
    model_ref: Annotated[
        str, typer.Argument(help="NAME@N (pinned) or NAME@ALIAS (followed as the alias moves).")
    ],
    canary: Annotated[
        str | None,
        typer.Option("--canary", help="A second model answering --weight percent of requests."),
    ] = None,
    weight: Annotated[
        int | None, typer.Option("--weight", help="The canary's share of requests, 1 to 99.")
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(
            "--shadow", help="A model scored on a copy of every request, logged, never returned."
        ),
    ] = None,
    stage: Annotated[
        bool,
        typer.Option(
            "--stage",
            help="Prepare beside the live revision (blue/green); `mloop endpoints switch` flips.",
        ),
    ] = False,
    runtime: Annotated[
        str,
        typer.Option(
            "--runtime", help="python, or onnx (needs a checked `mloop models export --onnx`)."
        ),
    ] = "python",
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the history.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy MODEL_REF at ENDPOINT as a new revision (optionally with a canary and a shadow)."""
    from mloop.endpoints.service import deploy as run_deploy

    with open_workspace(ctx) as ws:
        revision = run_deploy(
            ws.store,
            endpoint,
            model_ref,
            canary=canary,
            weight=weight,
            shadow=shadow,
            stage=stage,
            runtime=runtime,
            reason=reason,
            actor=ws.user,
        )
    if as_json:
        print_json(revision.to_dict())
        return
    typer.echo("\n".join(revision_lines(revision)))
