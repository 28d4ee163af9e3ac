"""`mloop models …`: register, inspect, promote through gates, approve, roll back, export."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop import render
from mloop.cli.context import open_workspace
from mloop.cli.output import (
    JsonOption,
    console,
    err_console,
    fmt_number,
    fmt_time,
    print_json,
    print_table,
)
from mloop.errors import GateFailed, InvalidInput
from mloop.plural import plural

app = typer.Typer(
    help="The model registry: versions, aliases, gates, approvals, lineage.", no_args_is_help=True
)


def _version_arg(version: str) -> int:
    if not version.isdigit():
        raise InvalidInput(
            f"Version {version!r} is not a number; `mloop models show NAME` lists versions."
        )
    return int(version)


def _name_and_version(name: str, version: str | None, command: str) -> tuple[str, int]:
    """``NAME N`` or ``NAME@N``, the form ``show`` and ``lineage`` take."""
    base, at, selector = name.partition("@")
    if at and version is None:
        if not selector.isdigit():
            raise InvalidInput(
                f"`mloop models {command}` takes a version number, not {name!r}; "
                f"write {base}@N or {base} N (`mloop models show {base}` lists versions)."
            )
        return base, int(selector)
    if at:
        raise InvalidInput(f"Give the version once: {base} {version} or {base}@{version}.")
    if version is None:
        raise InvalidInput(
            f"Which version of {name!r}? Write `mloop models {command} {name} N` or {name}@N."
        )
    return name, _version_arg(version)


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List registered models with their latest version and aliases."""
    from mloop.registry.versions import list_models

    with open_workspace(ctx) as ws:
        models = list_models(ws.store)
    if as_json:
        print_json(models)
        return
    if not models:
        typer.echo(
            "No models yet; register one with `mloop train … --register NAME` "
            "or run.log_model(…, name=NAME) in Python."
        )
        return
    print_table(
        ["model", "latest", "versions", "aliases", "created"],
        [
            (
                m.name,
                m.latest_version,
                m.versions,
                ", ".join(f"{a}→{v}" for a, v in m.aliases.items()),
                fmt_time(m.created_at),
            )
            for m in models
        ],
    )


@app.command("register")
def register(
    ctx: typer.Context,
    run: Annotated[
        str, typer.Argument(help="Run id (or a unique prefix) whose model to register.")
    ],
    name: Annotated[str, typer.Option("--name", help="Model name.")],
    as_json: JsonOption = False,
) -> None:
    """Register a run's model as a new immutable version NAME@N."""
    from mloop.registry.register import register_run

    with open_workspace(ctx) as ws:
        version = register_run(ws.store, ws.artifacts, run_id=run, name=name, actor=ws.user)
    if as_json:
        print_json(render.version(version))
        return
    typer.echo(f"model={version.ref}")
    typer.echo(f"run={version.run_id}")
    typer.echo(f"artifact=blake3:{version.artifact_hash}")


def _checks_table(checks: list[Any], title: str) -> None:
    print_table(
        ["check", "rule", "result", "detail"],
        [(c.check, c.name, "pass" if c.passed else "FAIL", c.detail) for c in checks],
        title=title,
    )


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME, NAME@N or NAME@ALIAS.")],
    as_json: JsonOption = False,
) -> None:
    """Show a model version: artifact, signature, metrics, aliases, approvals and every gate verdict."""
    from mloop.registry.approvals import list_approvals
    from mloop.registry.exports import get_export
    from mloop.registry.promotion import list_verdicts
    from mloop.registry.versions import list_versions, resolve
    from mloop.scoring.names import ESTIMATOR_TAG
    from mloop.tracking.runs import get_run

    with open_workspace(ctx) as ws:
        version = resolve(ws.store, ref)
        approvals = list_approvals(ws.store, version)
        verdicts = list_verdicts(ws.store, version)
        versions = list_versions(ws.store, version.name) if "@" not in ref else []
        estimator = (
            get_run(ws.store, version.run_id).tags.get(ESTIMATOR_TAG) if version.run_id else None
        )
        onnx = get_export(ws.store, version.id, "onnx")
    if as_json:
        shown = render.version_detail(
            version, estimator=estimator, approvals=approvals, verdicts=verdicts
        )
        shown["exports"] = {} if onnx is None else {"onnx": onnx.to_dict()}
        print_json(shown)
        return
    out = console()
    out.print(f"[bold]{version.ref}[/]  flavor={version.flavor}  run={version.run_id}")
    out.print(f"artifact=blake3:{version.artifact_hash}")
    out.print(
        f"aliases={', '.join(version.aliases) or '-'}  created {fmt_time(version.created_at)} by {version.created_by}"
    )
    signature = version.signature
    if signature.target:
        out.print(
            f"predicts {signature.target} ({signature.task}) from {len(signature.input_names)} input columns"
            + (
                f", rules from {signature.dataset} schema revision {signature.schema_revision}"
                if signature.schema_revision is not None
                else ""
            )
        )
    if estimator:
        out.print(f"estimator={estimator}", highlight=False)
    if onnx is not None:
        checked = onnx.agreement
        out.print(
            f"onnx export={onnx.to_dict()['artifact']} (checked: max |Δ {checked.get('measure')}| "
            f"{fmt_number(checked.get('max_diff'))} over {checked.get('rows')} rows; "
            "servable with --runtime onnx)",
            highlight=False,
        )
    print_table(
        ["metric", "value"],
        [(k, fmt_number(v)) for k, v in sorted(version.metrics.items())],
        title="metrics (logged)",
    )
    for approval in approvals:
        out.print(
            f"approved by {approval.approver} at {fmt_time(approval.created_at)}: {approval.note}"
        )
    for verdict in verdicts:
        status = (
            "PASSED" if verdict["passed"] else ("FORCED" if verdict.get("forced") else "FAILED")
        ) + (", NOT APPLIED: the alias moved meanwhile" if verdict.get("conflict") else "")
        print_table(
            ["check", "rule", "result", "detail"],
            [
                (c["check"], c["name"], "pass" if c["passed"] else "FAIL", c["detail"])
                for c in verdict.get("checks", [])
            ],
            title=f"gate {verdict['gate']} → {verdict['alias']}: {status} ({fmt_time(verdict['created_at'])}, {verdict['actor']})",
        )
    if len(versions) > 1:
        print_table(
            ["version", "aliases", "run", "created"],
            [(v.version, ", ".join(v.aliases), v.run_id, fmt_time(v.created_at)) for v in versions],
            title=f"all versions of {version.name}",
        )


@app.command("promote")
def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    to: Annotated[str, typer.Option("--to", help="Alias to move, e.g. champion.")],
    version: Annotated[
        str | None, typer.Argument(help="Version number (or write NAME@N).", show_default=False)
    ] = None,
    gate: Annotated[
        str | None,
        typer.Option("--gate", help="Gate from mloop.toml (default: 'default' when configured)."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why; required with --force.")
    ] = None,
    holdout: Annotated[
        str | None,
        typer.Option(
            "--holdout", help="Score on this dataset version instead of the run's held-out split."
        ),
    ] = None,
    no_gate: Annotated[
        bool, typer.Option("--no-gate", help="Move the alias without checking any gate.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Move even if the gate fails (recorded loudly).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check a gate and move an alias to NAME@VERSION; exit 1 and leave the alias if the gate fails."""
    from mloop.registry.gate_config import get_gate
    from mloop.registry.promotion import promote as run_promotion

    name, number = _name_and_version(name, version, "promote")
    with open_workspace(ctx) as ws, err_console().status("checking gate"):
        if no_gate and gate:
            raise InvalidInput("--gate and --no-gate contradict each other; pick one.")
        gate_name = gate or ("default" if "default" in ws.settings.gates else None)
        chosen = None
        if not no_gate and gate_name is not None:
            chosen = get_gate(ws.settings.gates, gate_name)
        try:
            result = run_promotion(
                ws.store,
                ws.artifacts,
                name=name,
                version=number,
                alias=to,
                gate=chosen,
                actor=ws.user,
                reason=reason,
                force=force,
                holdout=holdout,
                root=ws.root,
                skipped_gate=gate_name if no_gate else None,
            )
        except GateFailed as failure:
            if failure.details is not None:
                _render_promotion(failure.details, as_json)
            raise
        followed = _follow(ws) if result.moved else []
    _render_promotion(result, as_json, followed)


def _follow(ws: Any) -> list[Any]:
    """Endpoints following the alias just moved serve its new holder now (a new revision each),
    not only when a server next polls; the registry itself knows nothing of endpoints."""
    from mloop.endpoints.service import follow_aliases

    return follow_aliases(ws.store, ws.user)


def _followed_lines(followed: list[Any]) -> None:
    for revision in followed:
        staged = " (staged)" if revision.staged else ""
        typer.echo(
            f"endpoint {revision.endpoint}: revision {revision.number}{staged} serves "
            f"{revision.describe()}"
        )


def _render_promotion(result: Any, as_json: bool, followed: list[Any] | None = None) -> None:
    if as_json:
        shown = render.promotion(result)
        shown["endpoints"] = [revision.to_dict() for revision in followed or []]
        print_json(shown)
        return
    if result.checks:
        _checks_table(result.checks, f"gate {result.gate} (holdout: {result.holdout or '-'})")
    if result.move is not None:
        previous = "unset" if result.previous is None else f"{result.model}@{result.previous}"
        flag = ""
        if result.forced:
            flag = " (FORCED past a failing gate)" if result.gate else " (UNGATED: no gate checked)"
        typer.echo(
            f"{result.model}@{result.alias}: {previous} → {result.model}@{result.version}{flag}"
        )
    _followed_lines(followed or [])


@app.command("approve")
def approve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    note: Annotated[str, typer.Option("--note", help="What was reviewed.")],
    version: Annotated[
        str | None, typer.Argument(help="Version number (or write NAME@N).", show_default=False)
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="Approver (default: [user] name in mloop.toml, MLOOP_USER or $USER)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record a human approval of NAME@VERSION."""
    from mloop.registry.approvals import approve as record_approval

    name, number = _name_and_version(name, version, "approve")
    with open_workspace(ctx) as ws:
        approval = record_approval(
            ws.store,
            name=name,
            version=number,
            approver=ws.user if by is None else by,
            note=note,
        )
    if as_json:
        print_json(approval)
        return
    typer.echo(f"{name}@{approval.version} approved by {approval.approver}")


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to move back.")] = "champion",
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Move an alias back to the version it held before the current one."""
    from mloop.registry.aliases import rollback as run_rollback

    with open_workspace(ctx) as ws:
        move = run_rollback(
            ws.store, name=name, alias=alias, actor=ws.user, reason=reason, artifacts=ws.artifacts
        )
        followed = _follow(ws)
    if as_json:
        print_json({**render.plain(move), "endpoints": [r.to_dict() for r in followed]})
        return
    typer.echo(f"{name}@{alias}: {name}@{move.from_version} → {name}@{move.to_version} (rollback)")
    _followed_lines(followed)


@app.command("history")
def history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str | None, typer.Option("--alias", help="Only this alias.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every alias move of a model, oldest first."""
    from mloop.registry.aliases import history as alias_history

    with open_workspace(ctx) as ws:
        moves = alias_history(ws.store, name, alias=alias)
    if as_json:
        print_json(moves)
        return
    print_table(
        ["when", "alias", "from", "to", "action", "by", "reason"],
        [
            (
                fmt_time(m.created_at),
                m.alias,
                m.from_version or "-",
                m.to_version or "-",
                m.action + (" (forced)" if m.forced else ""),
                m.actor,
                m.reason or "",
            )
            for m in moves
        ],
    )


@app.command("lineage")
def lineage(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@N or NAME@ALIAS.")],
    as_json: JsonOption = False,
) -> None:
    """The whole chain behind a model version: run, code, parameters, data (with hashes), approvals."""
    from rich.tree import Tree

    from mloop.endpoints.usage import served
    from mloop.predlog import folder_for
    from mloop.registry.lineage import lineage as build_lineage

    with open_workspace(ctx) as ws:
        graph = build_lineage(ws.store, ref)
        name, _, number = str(graph["model"]).rpartition("@")
        graph["served"] = [
            s.to_dict() for s in served(ws.store, folder_for(ws.settings), name, int(number))
        ]
    if as_json:
        print_json(graph)
        return
    root = Tree(f"[bold]{graph['model']}[/] ({graph['flavor']}, {graph['artifact']})")
    if graph["aliases"]:
        root.add(f"aliases: {', '.join(graph['aliases'])}")
    run = graph.get("run")
    if run:
        node = root.add(
            f"run {run['id']} [{run['status']}] experiment={run['experiment']} by {run['user']}"
        )
        if run.get("estimator"):
            node.add(f"estimator: {run['estimator']}")
        if run.get("input_validation"):
            node.add(f"training rows vs. rules: {run['input_validation']}")
        code = run["code"]
        dirty = " (dirty)" if code.get("git_dirty") else ""
        node.add(
            f"code: git {code.get('git_commit') or 'unknown'}{dirty}  python {code.get('python') or '?'}"
        )
        params = node.add("params")
        for key, value in sorted(run["params"].items()):
            params.add(f"{key} = {value!r}")
        metrics = node.add("metrics")
        for key, value in sorted(run["metrics"].items()):
            metrics.add(f"{key} = {fmt_number(value)}")
        for item in run["inputs"]:
            data = node.add(f"data ({item['role']}): {item['dataset']} {item['hash']}")
            data.add(f"{plural(item['rows'], 'row')} from {item['source']}")
            if item.get("parent"):
                data.add(f"parent version {item['parent']}")
    for approval in graph["approvals"]:
        root.add(f"approved by {approval['approver']}: {approval['note']}")
    for verdict in graph["verdicts"]:
        root.add(
            f"gate {verdict['gate']} → {verdict['alias']}: {'passed' if verdict['passed'] else 'failed, FORCED past it' if verdict.get('forced') else 'failed'}"
            + (" (not applied: the alias moved meanwhile)" if verdict.get("conflict") else "")
        )
    for use in graph["served"]:
        revisions = ", ".join(f"r{r['revision']} {r['role']}" for r in use["revisions"])
        node = root.add(f"served at endpoint {use['endpoint']}: {revisions}")
        counts = use["predictions"]
        if counts:
            made = ", ".join(f"{n:,} as {role}" for role, n in counts.items())
            first, last = (dt.datetime.fromisoformat(use[k]) for k in ("first", "last"))
            node.add(f"predictions logged: {made}, {fmt_time(first)} to {fmt_time(last)} UTC")
        else:
            node.add("no predictions logged yet")
    console().print(root)


@app.command("export")
def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@N or NAME@ALIAS.")],
    onnx: Annotated[Path, typer.Option("--onnx", help="Write an ONNX file here.")],
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            min=0.0,
            help="Largest difference from the model's answers on held-out rows (probabilities; "
            "for regressors, predictions divided by their spread) before the export is refused.",
        ),
    ] = 1e-4,
    as_json: JsonOption = False,
) -> None:
    """Export a scikit-learn model to ONNX (for the ONNX Runtime flavor), checked against the model."""
    from mloop.registry.export import export_onnx_file

    with open_workspace(ctx) as ws:
        written = export_onnx_file(
            ws.store, ws.artifacts, ref, onnx, tolerance=tolerance, actor=ws.user
        )
    if as_json:
        print_json(written)
        return
    agreement = written.agreement
    typer.echo(f"onnx={written.path} ({written.size} bytes, {written.hash})")
    if written.export is not None:
        kept = "recorded" if written.export.recorded else "already recorded"
        typer.echo(
            f"export={kept} with the model version ({written.export.to_dict()['artifact']}); "
            "`mloop deploy ENDPOINT REF --runtime onnx` can serve it"
        )
    typer.echo(
        f"agreement=max |Δ {agreement.measure}| {agreement.max_diff:.3g} over {agreement.rows} "
        f"held-out rows, {agreement.labels_differ} labels differ"
    )
