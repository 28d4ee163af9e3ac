"""mloop's plain paths give what Typer and Rich would: option values and errors, progress lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer._click import Context
from typer._coercion import build_runtime_param

from mloop.cli.output import err_console, err_line
from mloop.cli.plain_params import lighten

VALUES: list[Any] = [
    "",
    "0",
    "-0",
    "7",
    "-12",
    "+5",
    "007",
    " 12",
    "12 ",
    "1_000",
    "1.0",
    "1.5",
    "-2.25",
    ".5",
    "5.",
    "1e3",
    "1E-2",
    "-1.5e+10",
    "inf",
    "nan",
    "12345678901234567890123",
    "abc",
    "a/b.csv",
    "a//b/",
    "./x",
    "/tmp",
    "-",
    "héllo",
    "x\0y",
    b"bytes",
    3,
    -4,
    2.5,
    True,
    False,
    ("a", "b"),
    ["c"],
    (),
    Path("p/q"),
]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def every(
        path: Annotated[Path, typer.Argument()],
        text: Annotated[str, typer.Option()] = "",
        maybe: Annotated[str | None, typer.Option()] = None,
        count: Annotated[int, typer.Option()] = 1,
        at_least_one: Annotated[int, typer.Option(min=1)] = 1,
        share: Annotated[float, typer.Option()] = 0.5,
        positive: Annotated[float | None, typer.Option(min=0.1, max=10)] = None,
        out: Annotated[Path | None, typer.Option()] = None,
        tags: Annotated[list[str] | None, typer.Option("--tag")] = None,
        flag: Annotated[bool, typer.Option()] = False,
    ) -> None:
        pass

    @app.command()
    def rest(names: Annotated[list[str], typer.Argument()]) -> None:
        pass

    return app


def _outcome(runtime: Any, value: Any, param: Any, ctx: Context) -> tuple[str, Any]:
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except typer.BadParameter as exc:
        return "error", exc.format_message()
    return type(result).__name__, repr(result)  # repr: nan equals itself


def test_direct_coercion_matches_typer_for_every_plain_option(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    command = typer.main.get_command(_app())
    typer_own = {}
    for sub in command.commands.values():  # type: ignore[attr-defined]
        for param in sub.params:
            typer_own[param] = build_runtime_param(param.type_descriptor)
    lighten(command)
    compared = 0
    for sub in command.commands.values():  # type: ignore[attr-defined]
        ctx = Context(sub)
        for param in sub.params:
            assert param._runtime_param is not None, param.name
            for value in VALUES:
                ours = _outcome(param._runtime_param, value, param, ctx)
                theirs = _outcome(typer_own[param], value, param, ctx)
                assert ours == theirs, (param.name, value)
                compared += 1
    assert compared == 11 * len(VALUES)


def test_a_cached_pipeline_command_and_help_do_not_import_pydantic(tmp_path: Path) -> None:
    probe = (
        "import sys; from mloop.cli.app import main; code = main(sys.argv[1:]); "
        "print('pydantic' in sys.modules, file=sys.stderr)"
    )
    for args in (["pipeline", "--help"], ["--help"], ["pipeline", "ls", "--limit", "3"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.stderr.rstrip().splitlines()[-1] == "False", (args, done.stderr)


def test_a_plain_progress_line_prints_as_rich_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.markup import escape

    for text in [
        "  parse  cached  0.01s",
        "  train  failed  0.20s  ValueError: bad [input] at C:\\data :smile: x",
        "  tab\there  ünïcode → ok",
        "",
        "trailing backslash \\",
    ]:
        err_line(text)
        ours = capsys.readouterr().err
        err_console().print(escape(text), highlight=False)
        assert ours == capsys.readouterr().err, text
