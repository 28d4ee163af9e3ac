"""Printing and running the story's steps: the command as a user would type it, then its output."""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mloop.errors import MloopError

BOLD, BLUE, GREEN, DIM, RESET = "\033[1m", "\033[1;34m", "\033[1;32m", "\033[2m", "\033[0m"


class StoryFailed(MloopError):
    """A step did not end as the story needs; the demo stops there and says which."""

    exit_code = 1


class Narrator:
    def __init__(
        self, workspace: Path, *, color: bool, cli: Callable[[list[str]], int] | None = None
    ) -> None:
        """``cli``: the CLI's ``main``, which quiet polls call in this process (the command
        passes it down: the demo sits below the CLI); without it they start a process each."""
        self.workspace = workspace
        self.color = color
        self.cli = cli
        self.started = time.perf_counter()
        self.chapter = 0

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text

    def elapsed(self) -> str:
        return f"{time.perf_counter() - self.started:5.1f}s"

    def title(self, text: str) -> None:
        self.chapter += 1
        print(f"\n{self._paint(BLUE, f'## {self.chapter}. {text}')}", flush=True)

    def say(self, text: str) -> None:
        print(
            self._paint(BLUE, f"# {text}") + self._paint(DIM, f"  [{self.elapsed()}]"), flush=True
        )

    def note(self, text: str) -> None:
        print(f"→ {text}", flush=True)

    def done(self, text: str) -> None:
        print(f"\n{self._paint(GREEN, text)}", flush=True)

    def mloop(
        self, *args: str, expect: int | Sequence[int] = 0, show: bool = True, quiet: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``mloop ARGS`` in the workspace; ``StoryFailed`` unless it exits with ``expect``."""
        wanted = (expect,) if isinstance(expect, int) else tuple(expect)
        line = "$ mloop " + " ".join(shlex.quote(a) for a in args)
        if wanted != (0,):
            line += "   (expected to exit " + " or ".join(map(str, wanted)) + ")"
        if not quiet:
            print(self._paint(BOLD, line), flush=True)
        if quiet and self.cli is not None:  # unseen polling: in this process, no start-up
            done = self._in_process(args)
        else:
            env = {**os.environ, "COLUMNS": os.environ.get("COLUMNS", "150")}
            done = subprocess.run(
                [sys.executable, "-m", "mloop", *args],
                cwd=self.workspace,
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
        if show and not quiet:
            out = (done.stdout + done.stderr).rstrip()
            if out:
                print(out, flush=True)
        if done.returncode not in wanted:
            if quiet or not show:
                print((done.stdout + done.stderr).rstrip(), file=sys.stderr)
            raise StoryFailed(
                f"`mloop {' '.join(args)}` exited {done.returncode}, not "
                f"{' or '.join(map(str, wanted))}; its output is above."
            )
        return done

    def _in_process(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        assert self.cli is not None
        out, err = io.StringIO(), io.StringIO()
        with (
            contextlib.chdir(self.workspace),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = self.cli(["--workspace", str(self.workspace), *args])
        return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
