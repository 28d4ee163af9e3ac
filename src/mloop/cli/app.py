"""The ``mloop`` command: one Typer sub-app per noun, errors mapped once.

Exit codes: 0 ok, 1 a check failed (validation, gate, drift), 2 usage or input error. An
``MloopError`` prints its one sentence; anything else prints one line and, with ``--debug``,
the traceback (never locals).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Annotated

import typer

from mloop.cli.context import state
from mloop.cli.output import err_console, escape, tolerate_narrow_encodings
from mloop.cli.plain_params import lighten
from mloop.cli.workspace_cmds import artifacts_app, init
from mloop.errors import MloopError
from mloop.tracking.termination import TERMINATING_SIGNALS, Terminated

INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C

ROOT_OPTIONS_WITH_VALUES = ("--workspace", "-w")


def _root(
    ctx: typer.Context,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace folder (else MLOOP_WORKSPACE, else the nearest parent).",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks for unexpected errors.")
    ] = False,
) -> None:
    current = state(ctx)
    current.workspace = workspace
    current.debug = debug


def build_app(only: str | None = None) -> typer.Typer:
    """The ``mloop`` Typer app; with ``only``, just that command beside the root options.

    A command run from a shell needs one sub-app: importing and building the other nineteen
    (their modules, then Typer's evaluation of every signature) cost each command ~0.2 s of its
    start-up. ``mloop --help`` and a mistyped command get the whole tree.
    """
    from mloop.cli import registry_hooks

    built = typer.Typer(
        name="mloop",
        help="mloop: data, training, registry, gates, serving and lineage in one tool.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
    )
    built.callback()(_root)
    if only in (None, "init"):
        built.command("init")(init)
    if only in (None, "artifacts"):
        built.add_typer(artifacts_app, name="artifacts")
    registry_hooks.register(built, only=only)
    return built


def command_names() -> list[str]:
    from mloop.cli import registry_hooks

    return ["init", "artifacts", *(name for name, _, _ in registry_hooks.SUBCOMMANDS)]


def _requested(args: Sequence[str]) -> str | None:
    """The command ``args`` name (skipping the root options), if it is one of ours."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ROOT_OPTIONS_WITH_VALUES:
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in command_names() else None
    return None


_BUILT: dict[str | None, typer.core.TyperGroup] = {}


def _command(only: str | None = None) -> typer.core.TyperGroup:
    """The command tree Typer builds, once per process and per ``only``.

    ``app()`` rebuilds it on every call (signature and type-hint evaluation over every command),
    which whatever calls ``main`` in-process many times over (the test suite, a notebook) paid
    on each call.
    """
    if only not in _BUILT:
        command = typer.main.get_command(build_app(only))
        assert isinstance(command, typer.core.TyperGroup)  # app has sub-apps: always a group
        lighten(command)
        _BUILT[only] = command
    return _BUILT[only]


def __getattr__(name: str) -> typer.Typer:
    """``app``: the whole Typer app (for tests, docs and tools that walk every command)."""
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _exit_cleanly_on_sigterm() -> None:
    """`kill PID` (and `docker stop`, Kubernetes, a closed terminal) should end a run KILLED.

    ``Terminated`` is a SystemExit: it unwinds like an exception, so every ``finally`` and
    run-ending handler runs, and the process exits 128 + the signal. A second signal kills at once.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)
        raise Terminated(signum)

    for signum in TERMINATING_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, stop)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("MLOOP_DEBUG"))
    _exit_cleanly_on_sigterm()
    tolerate_narrow_encodings()
    try:
        result = _command(_requested(args)).main(
            args=args, prog_name="mloop", standalone_mode=False
        )
        if result == INTERRUPTED:  # Typer returns Ctrl-C as exit code 130, silently
            err_console().print("Interrupted.")
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console().print("Aborted.")
        return 130
    except typer.TyperException as exc:  # usage errors from Typer's bundled click
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console().print(f"error: {exc}", highlight=False, markup=False)
        return int(getattr(exc, "exit_code", 2))
    except MloopError as exc:
        err_console().print(
            f"[bold red]error:[/] {escape(exc.message)}", highlight=False, emoji=False
        )
        return exc.exit_code
    except KeyboardInterrupt:
        err_console().print("Interrupted.")
        return INTERRUPTED
    except OSError as exc:  # the file system said no: a path, a permission, a full disk
        if debug:
            traceback.print_exc()
        where = f" {exc.filename}" if exc.filename else ""
        err_console().print(
            f"[bold red]error:[/] cannot use{escape(str(where))} ({escape(exc.strerror or str(exc))}); "
            "check the path, its permissions and free space.",
            highlight=False,
            emoji=False,
        )
        return 2
    except Exception as exc:
        if debug:
            traceback.print_exc()
        else:
            err_console().print(
                f"[bold red]unexpected error:[/] {type(exc).__name__}: {escape(str(exc))}. "
                "Re-run with --debug for the traceback and report it.",
                highlight=False,
                emoji=False,
            )
        return 1


def run() -> None:
    code = main()
    _exit_without_teardown(code)
    sys.exit(code)


def _exit_without_teardown(code: int) -> None:
    """End the process once the command is done, skipping Python's teardown of every module:
    with scikit-learn, pandas and Ray imported that teardown frees some 190,000 objects one by
    one and took 0.4-0.7 s after the output was written, on every such command. What a normal
    exit does for the user still happens here: the ``atexit`` handlers run (logging, Ray's
    shutdown, multiprocessing's workers, ``weakref.finalize`` clean-ups) and stdout and stderr
    are flushed. Returns, for the normal exit, while another non-daemon thread runs (Python
    would wait for it) or when flushing fails (a closed pipe: Python reports that itself)."""
    import atexit

    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)
