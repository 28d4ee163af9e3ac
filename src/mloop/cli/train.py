"""`mloop train`: fit a scikit-learn Pipeline on a dataset version and record the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli.context import open_workspace, state
from mloop.cli.output import JsonOption, chatter_to_stderr, err_console, note, print_json
from mloop.cli.params import parse_params
from mloop.errors import InvalidInput, NotFound
from mloop.plural import plural
from mloop.scoring.task import Task
from mloop.training.defaults import describe

MAX_SEED = 2**32 - 1  # what numpy and scikit-learn accept as random_state
MAX_NAMES_SHOWN = 10


def _file_instead_of_a_name(data: str) -> InvalidInput | None:
    """A new user's first try is often ``--data churn.csv``: say what to do, not that the name is bad."""
    if not Path(data).is_file():
        return None
    return InvalidInput(
        f"--data takes a dataset name, not a file; add the file first with "
        f"`mloop data add NAME {data}`, then pass --data NAME."
    )


def _refuse_a_file_path(data: str) -> None:
    from mloop.data.refs import NAME_PATTERN

    mistake = _file_instead_of_a_name(data)
    if mistake is not None and not NAME_PATTERN.match(data.partition("@")[0]):
        raise mistake


def train(
    ctx: typer.Context,
    data: Annotated[
        str, typer.Option("--data", help="Dataset version: NAME, NAME@N or NAME@latest.")
    ],
    target: Annotated[str, typer.Option("--target", help="Column to predict.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Classification: logistic, random_forest, gradient_boosting. Regression: ridge, "
            "random_forest, gradient_boosting. Or MODULE:CALLABLE. Default: logistic or ridge.",
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        Task | None,
        typer.Option(
            "--task",
            help="classification or regression; overrides the inferred task (an integer target "
            "with at most 20 values is inferred to be classes, other numbers regression).",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="Model parameter KEY=VALUE (repeatable), read as a Python literal (C=0.5, C=inf, "
            f"max_depth=None), else as text. Built-in defaults: {describe()}.",
        ),
    ] = None,
    test_size: Annotated[float, typer.Option("--test-size", help="Held-out fraction.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the split and the model.")] = 0,
    experiment: Annotated[str, typer.Option("--experiment", help="Experiment name.")] = "default",
    register: Annotated[
        str | None,
        typer.Option("--register", help="Also register the model as a new version of NAME."),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option("--drop", help="Leave this column out of the features (repeatable)."),
    ] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            "--sweep",
            help="Sweep a model parameter (repeatable; several make a grid): NAME=v1,v2,… or "
            "NAME=lo:hi:n, with :log for a log scale. Each trial is a child run, run in parallel "
            "(MLOOP_EXECUTOR=ray for Ray); --register registers the best one.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Train on a dataset version, evaluate on a held-out split, store the model (skops) with lineage."""
    params = parse_params(param or [])
    axes = None
    if sweep:
        from mloop.cli.sweeps import parse_sweeps

        axes = parse_sweeps(sweep)
    _refuse_a_file_path(data)
    if register:
        from mloop.data.refs import NUMBERED
        from mloop.registry.versions import check_name

        # before minutes of training, not after
        check_name(register, fix=NUMBERED.replace("{command}", "--register"))
    if not 0 <= seed <= MAX_SEED:
        raise InvalidInput(f"--seed must be between 0 and {MAX_SEED}; got {seed}.")
    if axes is not None:
        _sweep(
            ctx,
            axes,
            data,
            target,
            model,
            task,
            params,
            test_size,
            seed,
            experiment,
            register,
            drop or [],
            as_json,
        )
        return
    from mloop import render
    from mloop.hashing import display
    from mloop.training.train import train as run_training

    with (
        open_workspace(ctx) as ws,
        err_console().status("training") as spinner,
        chatter_to_stderr(),
    ):
        if register:
            from mloop.registry.register import check_target

            check_target(ws.store, register, target)
        try:
            result = run_training(
                ws.store,
                ws.artifacts,
                data=data,
                target=target,
                user=ws.user,
                root=ws.root,
                model=model,
                params=params,
                test_size=test_size,
                seed=seed,
                experiment=experiment,
                task=task,
                drop=drop or (),
                status=lambda message: spinner.update(message),
            )
        except NotFound as exc:  # a file named like a dataset: churn.csv
            mistake = _file_instead_of_a_name(data)
            if mistake is None:
                raise
            raise mistake from exc
        registered = None
        if register:
            from mloop.registry.register import register_run

            registered = register_run(
                ws.store, ws.artifacts, run_id=result.run_id, name=register, actor=ws.user
            )
    if result.flavor == "pyfunc":
        note(
            f"the {result.model} pipeline is stored as a pickle (pyfunc flavor): no safe format can "
            "hold it, so it loads only from blobs this workspace wrote, checked against their hash."
        )
    unlabelled = result.dataset.row_count - result.train_rows - result.test_rows
    if unlabelled > 0:
        note(
            f"{plural(unlabelled, 'row')} of {result.dataset.ref} with no label in "
            f"{target!r} (empty or ?) left out; a model learns from labelled rows, "
            "`mloop predict` scores the others."
        )
    if result.features.dropped:
        from mloop.data.refs import shortlist

        shown = shortlist(list(result.features.dropped), limit=MAX_NAMES_SHOWN)
        note(
            f"not used as features: {shown} (dates, IDs, row numbers, free text, empty and "
            "--drop columns are left out; derive numbers or categories from them to use them)."
        )
    for metric, why in result.unscored.items():
        note(f"metric.{metric} not computed: {why}")
    if not result.validation.ok:
        from mloop.training.train import validation_summary

        note(
            "the training rows break the dataset's rules ("
            + validation_summary(result.validation, result.signature.schema_revision or 0)
            + "); trained anyway, and recorded on the run. `mloop data validate` shows the rows."
        )
    if as_json:
        print_json(render.train_result(result, registered=registered))
        return
    typer.echo(f"dataset={result.dataset.ref} ({display(result.dataset.content_hash)})")
    typer.echo(f"run={result.run_id}")
    for name, value in result.metrics.items():
        typer.echo(f"metric.{name}={value:.6g}")
    typer.echo(f"artifact={display(result.model_hash)}")
    if registered is not None:
        typer.echo(f"model={registered.ref}")


def _sweep(
    ctx: typer.Context,
    axes: dict[str, list[Any]],
    data: str,
    target: str,
    model: str | None,
    task: Task | None,
    params: dict[str, Any],
    test_size: float,
    seed: int,
    experiment: str,
    register: str | None,
    drop: list[str],
    as_json: bool,
) -> None:
    """``--sweep``: the grid on the configured executor, then the best trial registered."""
    from mloop.cli.sweeps import render_sweep
    from mloop.config import find_workspace, load_settings
    from mloop.executors import executor_settings
    from mloop.training.sweep import sweep
    from mloop.workspace import Workspace

    found = load_settings(find_workspace(state(ctx).workspace))
    chosen = executor_settings(found.raw)
    with (
        chatter_to_stderr(),
        Workspace.from_settings(found) as ws,
        err_console().status(f"sweeping on the {chosen.kind} executor"),
    ):
        if register:
            from mloop.registry.register import check_target

            check_target(ws.store, register, target)
        # opened by the sweep, whose first worker reads and checks the data
        result = sweep(
            ws.store,
            ws.artifacts,
            chosen,
            settings=ws.settings,
            data=data,
            target=target,
            axes=axes,
            model=model,
            params=params,
            test_size=test_size,
            seed=seed,
            experiment=experiment,
            task=None if task is None else task.value,
            drop=drop,
        )
        registered = None
        if register and result.best_run_id is not None:
            from mloop.registry.register import register_run

            registered = register_run(
                ws.store, ws.artifacts, run_id=result.best_run_id, name=register, actor=ws.user
            )
    for trial in result.failed:
        note(
            f"trial {trial.index + 1} failed ({(trial.error or '').splitlines()[0]}); "
            f"`mloop runs show {trial.run_id}` has its error."
        )
    render_sweep(result, registered=registered, as_json=as_json)
