from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mloop
from tests.conftest import run_mloop


def test_all_is_exactly_the_public_namespace() -> None:
    public = {name for name in dir(mloop) if not name.startswith("_")} | {"__version__"}
    assert set(mloop.__all__) == public
    for name in mloop.__all__:
        assert getattr(mloop, name) is not None


def test_import_opens_nothing_heavy() -> None:
    code = "import sys, mloop; print(sorted(m for m in ('pandas', 'sklearn', 'sqlalchemy') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_command_has_help(tmp_path: Path) -> None:
    top = run_mloop("--help", cwd=tmp_path)
    assert top.returncode == 0
    groups = {
        "data": ["add", "ls", "show", "diff", "validate", "schema"],
        "runs": ["ls", "show", "compare"],
        "models": [
            "ls",
            "show",
            "register",
            "promote",
            "approve",
            "rollback",
            "history",
            "lineage",
            "export",
        ],
        "artifacts": ["verify"],
    }
    for noun in [*groups, "init", "train", "audit"]:
        assert noun in top.stdout
    for noun, verbs in groups.items():
        listing = run_mloop(noun, "--help", cwd=tmp_path)
        assert listing.returncode == 0
        for verb in verbs:
            assert verb in listing.stdout, f"mloop {noun} {verb} is not listed"
            detail = run_mloop(noun, verb, "--help", cwd=tmp_path)
            assert detail.returncode == 0 and len(detail.stdout.splitlines()) > 3
