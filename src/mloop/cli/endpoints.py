"""`mloop endpoints …`: list, show, history, switch, rollback and delete serving endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mloop.cli.context import open_workspace
from mloop.cli.deploy import revision_lines, slot_text
from mloop.cli.output import JsonOption, console, fmt_time, print_json, print_table

if TYPE_CHECKING:
    from mloop.endpoints.revisions import Revision
    from mloop.endpoints.status import EndpointStatus

app = typer.Typer(
    help="Serving endpoints and their revisions: live, staged, history, rollback.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Endpoint name.")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why, for the history.")]


def _split(revision: Revision | None) -> str:
    if revision is None:
        return "-"
    traffic = revision.traffic
    text = f"{slot_text(revision.primary)} {traffic['primary']}%"
    if revision.canary is not None:
        text += f" / canary {slot_text(revision.canary)} {traffic['canary']}%"
    return text


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List endpoints with their live revision, traffic split, shadow and staged revision."""
    from mloop.endpoints.service import list_endpoints

    with open_workspace(ctx) as ws:
        states = list_endpoints(ws.store)
    if as_json:
        print_json([state.to_dict() for state in states])
        return
    if not states:
        typer.echo("No endpoints yet; `mloop deploy NAME MODEL_REF` makes one.")
        return
    print_table(
        ["endpoint", "revision", "traffic", "shadow", "runtime", "staged", "updated"],
        [
            (
                s.name,
                s.live.number if s.live else "-",
                _split(s.live),
                slot_text(s.live.shadow) if s.live and s.live.shadow else "-",
                s.live.runtime if s.live else "-",
                f"r{s.staged.number} {s.staged.describe()}" if s.staged else "-",
                fmt_time(s.updated_at),
            )
            for s in states
        ],
    )


def _server_lines(status: EndpointStatus | None, live: Revision | None) -> list[str]:
    if status is None:
        return ["server: no server running (no status written in the last 10 s)"]
    where = f"pid {status.pid}, {status.url}"
    if status.ready:
        serving = f"revision {status.revision}" if status.revision is not None else "ready"
        if status.reason:  # it keeps serving what it had: say why not the newest
            lag = f", but {status.reason}"
        elif live and status.revision is not None and status.revision != live.number:
            lag = " (switching to the newest revision)"
        else:
            lag = ""
        lines = [f"server: ready, serving {serving}{lag} ({where})"]
    else:
        lines = [f"server: NOT READY: {status.reason or 'no reason given'} ({where})"]
    agreement = status.shadow_agreement
    if agreement is not None:
        lines.append(
            f"shadow agreement: {agreement:.1%} of {status.shadow_compared} compared "
            f"({status.shadow_agreed} agreed)"
        )
    elif live is not None and live.shadow is not None:
        lines.append("shadow agreement: nothing compared yet")
    shed = status.extra.get("shadow_shed")
    if isinstance(shed, int) and shed > 0:
        lines.append(f"shadow shed under load: {shed} requests not mirrored")
    return lines


@app.command("show")
def show(ctx: typer.Context, name: NameArgument, as_json: JsonOption = False) -> None:
    """Show the live revision, traffic split, shadow, staged revision and the server's view."""
    from mloop.endpoints.service import get_endpoint
    from mloop.endpoints.status import read_status, status_folder

    with open_workspace(ctx) as ws:
        state = get_endpoint(ws.store, name)
        status = read_status(status_folder(ws.root), name)
    if as_json:
        shown: dict[str, Any] = state.to_dict()
        shown["server"] = None if status is None else status.to_dict()
        print_json(shown)
        return
    out = console()
    live = state.live
    if live is None:
        out.print(f"[bold]{name}[/]: nothing live")
    else:
        why = f": {live.reason}" if live.reason else ""
        out.print(
            f"[bold]{name}[/]  live revision {live.number} ({live.action} by {live.created_by}, "
            f"{fmt_time(live.created_at)}{why})",
            highlight=False,
        )
        out.print(f"traffic: {_split(live)}", highlight=False)
        shadow = slot_text(live.shadow) if live.shadow else "none"
        out.print(f"shadow: {shadow}" + (" (mirrored, never returned)" if live.shadow else ""))
        out.print(f"runtime: {live.runtime}")
    staged = state.staged
    out.print(
        f"staged: revision {staged.number} {staged.describe()} "
        f"(`mloop endpoints switch {name}` makes it live)"
        if staged
        else "staged: none",
        highlight=False,
    )
    for line in _server_lines(status, live):
        out.print(line, highlight=False)


@app.command("history")
def history(ctx: typer.Context, name: NameArgument, as_json: JsonOption = False) -> None:
    """Every revision of an endpoint, oldest first, marking the live and the staged one.

    Staged revisions that are no longer staged read "never live": they got no traffic. The
    steps of a guarded rollout (the candidate beside the champion) that are not live read
    "rollout step": they were safe to serve only while watched. `endpoints rollback` skips and
    refuses both, so the table says which revisions can be rolled back to.
    """
    from mloop.endpoints.service import history as list_history
    from mloop.endpoints.service import list_endpoints, rollout_steps

    with open_workspace(ctx) as ws:
        revisions = list_history(ws.store, name)
        steps = rollout_steps(ws.store, name)
        current = next((s for s in list_endpoints(ws.store) if s.name == name), None)
    live_id = current.live.id if current and current.live else None
    staged_id = current.staged.id if current and current.staged else None

    def now(revision: Revision) -> str | None:
        return {live_id: "live", staged_id: "staged"}.get(revision.id)

    if as_json:
        print_json(
            [
                {**r.to_dict(), "current": now(r), "rollout_step": steps.get(r.number)}
                for r in revisions
            ]
        )
        return

    def marked(revision: Revision) -> str:
        if (live := now(revision)) is not None:
            return live
        if revision.staged:
            return "never live"
        return "rollout step" if revision.number in steps else ""

    print_table(
        ["revision", "when", "action", "serves", "runtime", "by", "reason", "now"],
        [
            (
                r.number,
                fmt_time(r.created_at),
                r.action + (f" r{r.source_revision}" if r.source_revision else ""),
                r.describe(),
                r.runtime,
                r.created_by,
                r.reason or "",
                marked(r),
            )
            for r in revisions
        ],
    )


def _render(revision: Revision, as_json: bool) -> None:
    if as_json:
        print_json(revision.to_dict())
        return
    typer.echo("\n".join(revision_lines(revision)))


@app.command("switch")
def switch(
    ctx: typer.Context, name: NameArgument, reason: ReasonOption = None, as_json: JsonOption = False
) -> None:
    """Make the staged revision live, moving all traffic at once (blue/green)."""
    from mloop.endpoints.service import switch as run_switch

    with open_workspace(ctx) as ws:
        revision = run_switch(ws.store, name, reason=reason, actor=ws.user)
    _render(revision, as_json)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: NameArgument,
    to: Annotated[
        int | None,
        typer.Option(
            "--to",
            help="Revision to re-apply (default: the one live before the last change; a "
            "rollout counts as one change, so after one it is the revision live before it began).",
        ),
    ] = None,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-apply an earlier revision as a new live one, pinned to the versions it served."""
    from mloop.endpoints.service import rollback as run_rollback

    with open_workspace(ctx) as ws:
        revision = run_rollback(ws.store, name, to=to, reason=reason, actor=ws.user)
    _render(revision, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context, name: NameArgument, reason: ReasonOption = None, as_json: JsonOption = False
) -> None:
    """Stop serving an endpoint; its history stays, and deploying the name again restarts it."""
    from mloop.endpoints.service import delete as run_delete

    with open_workspace(ctx) as ws:
        state = run_delete(ws.store, name, reason=reason, actor=ws.user)
    if as_json:
        print_json(state.to_dict())
        return
    typer.echo(f"endpoint={name}\ndeleted={fmt_time(state.deleted_at)}")
