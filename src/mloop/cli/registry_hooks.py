"""Where each noun's sub-app is mounted: one line per noun, so adding one touches one line here."""

from __future__ import annotations

import importlib

import typer

# (command name, module, attribute): a Typer sub-app, or a plain function for a single command.
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("data", "mloop.cli.data", "app"),
    ("train", "mloop.cli.train", "train"),
    ("runs", "mloop.cli.runs", "app"),
    ("models", "mloop.cli.models", "app"),
    ("audit", "mloop.cli.audit", "audit"),
    ("demo", "mloop.cli.demo", "demo"),
    ("logs", "mloop.cli.logs", "logs"),
    ("feedback", "mloop.cli.feedback", "feedback"),
    ("deploy", "mloop.cli.deploy", "deploy"),
    ("endpoints", "mloop.cli.endpoints", "app"),
    ("predict", "mloop.cli.predict", "predict"),
    ("jobs", "mloop.cli.jobs", "app"),
    ("serve", "mloop.cli.serve", "serve"),
    ("drift", "mloop.cli.drift", "drift"),
    ("monitor", "mloop.cli.monitor", "monitor"),
    ("alerts", "mloop.cli.monitor", "alerts_app"),
    ("pipeline", "mloop.cli.pipeline", "app"),
    ("retrain", "mloop.cli.retrain", "retrain"),
    ("agent", "mloop.cli.agent", "agent"),
    ("rollouts", "mloop.cli.rollouts", "app"),
]


def register(app: typer.Typer, *, only: str | None = None) -> None:
    """Mount every sub-app on ``app``, or with ``only`` just the one of that name."""
    for name, module, attribute in SUBCOMMANDS:
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
