"""A command from a shell builds its own sub-app only; `mloop --help` and typos see them all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_mloop

PROBE = (
    "import sys; from mloop.cli.app import main; code = main(sys.argv[1:]); "
    "print(' '.join(sorted(m for m in sys.modules if m.startswith('mloop.cli.'))))"
)


def _loaded(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )
    return set(done.stdout.split())


def test_one_command_imports_only_its_own_cli_module() -> None:
    loaded = _loaded("alerts", "--help")
    assert "mloop.cli.monitor" in loaded
    assert not {"mloop.cli.data", "mloop.cli.train", "mloop.cli.serve"} & loaded


def test_root_options_before_the_command_are_skipped() -> None:
    loaded = _loaded("--debug", "-w", "somewhere", "rollouts", "--help")
    assert "mloop.cli.rollouts" in loaded and "mloop.cli.data" not in loaded


def test_help_lists_every_command_and_a_typo_is_one_clear_error(tmp_path: Path) -> None:
    listed = run_mloop("--help", cwd=tmp_path)
    for name in ("init", "data", "train", "monitor", "pipeline", "agent", "rollouts"):
        assert name in listed.stdout
    typo = run_mloop("moniter", cwd=tmp_path)
    assert typo.returncode == 2 and "moniter" in typo.stderr


# What a library registers to run at exit (here: write a file), then the command as the
# console script runs it; argv[1] says whether a non-daemon thread is still working.
EXIT_PROBE = """
import atexit, sys, threading, time
from pathlib import Path
from mloop.cli import app
out = Path(sys.argv[1])
atexit.register(lambda: out.with_suffix(".atexit").write_text("ran"))
atexit.register(print, "bye", end="")  # written by an exit handler, still buffered
if sys.argv[2] == "thread":
    def late():
        time.sleep(0.3)
        out.with_suffix(".thread").write_text("finished")
    threading.Thread(target=late).start()
sys.argv = ["mloop", "--help"]
app.run()
"""


def test_the_process_ends_with_exit_handlers_run_and_every_byte_written(tmp_path: Path) -> None:
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, str(tmp_path / "probe"), "alone"],
        capture_output=True,
        text=True,
        check=False,
        env=buffered,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout and done.stdout.endswith("bye")
    assert (tmp_path / "probe.atexit").read_text() == "ran"


def test_a_running_thread_is_waited_for_as_python_would(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, str(tmp_path / "probe"), "thread"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "probe.thread").read_text() == "finished"
    assert (tmp_path / "probe.atexit").read_text() == "ran"


def test_an_error_keeps_its_exit_code(tmp_path: Path) -> None:
    refused = run_mloop("runs", "show", "nope", cwd=tmp_path)
    assert refused.returncode == 2 and "error" in refused.stderr
