"""A command from a shell builds its own sub-app only; `mloop --help` and typos see them all."""

from __future__ import annotations

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
