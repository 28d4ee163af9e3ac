from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
        "endpoints": ["ls", "show", "history", "switch", "rollback", "delete"],
        "jobs": ["ls", "show"],
    }
    for noun in [*groups, "init", "train", "audit", "deploy", "logs", "predict", "drift"]:
        assert noun in top.stdout
    for noun, verbs in groups.items():
        listing = run_mloop(noun, "--help", cwd=tmp_path)
        assert listing.returncode == 0
        for verb in verbs:
            assert verb in listing.stdout, f"mloop {noun} {verb} is not listed"
            detail = run_mloop(noun, verb, "--help", cwd=tmp_path)
            assert detail.returncode == 0 and len(detail.stdout.splitlines()) > 3
