from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from mloop.cli.app import app
from tests.conftest import run_mloop

PROBE = """
import json, types, mloop
def public():
    return sorted(
        n for n, v in vars(mloop).items()
        if not n.startswith("_")
        and not (isinstance(v, types.ModuleType) and v.__name__.startswith("mloop."))
    )
fresh = public()
for name in mloop.__all__:
    getattr(mloop, name)
print(json.dumps({"fresh": fresh, "loaded": public(), "all": mloop.__all__}))
"""


def test_the_real_namespace_is_exactly_the_documented_api() -> None:
    """``vars(mloop)``, not ``dir`` (which returns ``__all__`` itself): no import helper, typing
    name or submodule may sit in the namespace beside the API, before or after lazy loading."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out)
    documented = set(seen["all"]) - {"__version__"}
    assert set(seen["loaded"]) == documented
    assert set(seen["fresh"]) <= documented
    assert not {"importlib", "Any", "TYPE_CHECKING", "errors", "annotations"} & set(seen["fresh"])
    assert "Signature" in documented
    assert "deploy" in documented  # mloop.deploy, the Python form of `mloop deploy`
    assert "predict" in documented
    assert "drift" in documented  # mloop.drift, the Python form of `mloop drift`
    assert {"step", "pipeline"} <= documented  # @mloop.step, @mloop.pipeline


def test_submodules_stay_importable() -> None:
    code = "import mloop, mloop.errors; print(mloop.errors.NotFound is mloop.NotFound)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_import_opens_nothing_heavy() -> None:
    code = "import sys, mloop; print(sorted(m for m in ('pandas', 'sklearn', 'sqlalchemy') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def _every_command(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path in the real tree, so a command added later is checked too."""
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not sub.hidden:
            yield from _every_command(sub, (*path, name))


def test_every_command_has_help(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The top-level help from the real console entry point (one process start); every noun's and
    verb's help from the same command tree in-process, built once (a process start each made
    this test take 20 s, and ``main`` rebuilds the whole tree on every call)."""
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
        "endpoints": ["ls", "show", "history", "switch", "rollback", "delete"],
        "jobs": ["ls", "show"],
    }
    for noun in [*groups, "init", "train", "audit", "deploy", "logs", "predict", "drift"]:
        assert noun in top.stdout
    monkeypatch.chdir(tmp_path)
    command = get_command(app)

    def help_of(*path: str) -> str:
        capsys.readouterr()
        code = command.main([*path, "--help"], prog_name="mloop", standalone_mode=False)
        out = capsys.readouterr().out
        assert code == 0, f"mloop {' '.join(path)} --help exited {code}"
        return out

    for noun, verbs in groups.items():
        listing = help_of(noun)
        for verb in verbs:
            assert verb in listing, f"mloop {noun} {verb} is not listed"
    paths = list(_every_command(command))
    for noun, verbs in groups.items():
        assert {(noun, verb) for verb in verbs} <= set(paths)
    for path in paths[1:]:
        detail = help_of(*path)
        assert len(detail.splitlines()) > 3, f"mloop {' '.join(path)} --help says too little"
