"""Imports point down: edges (cli) → services (training, registry, tracking) → scoring/data → store.

Walks the real import statements of every module under src/mloop (with ``ast``, so an import
inside a function counts as much as one at the top), and fails naming the module and the import
that points up. Serving and the loop will compose registry steps; a registry that imports the
training orchestrator, or a service that imports the CLI, would drag them along.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "mloop"

# package -> packages it must never import (directly, at any depth of the file)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the CLI calls endpoints.follow_aliases after moving an alias; the registry knows no endpoint
    "mloop.registry": ("mloop.training", "mloop.cli", "mloop.endpoints", "mloop.serving"),
    "mloop.scoring": ("mloop.training", "mloop.registry", "mloop.tracking", "mloop.cli"),
    "mloop.data": ("mloop.training", "mloop.registry", "mloop.tracking", "mloop.cli"),
    "mloop.store": (
        "mloop.training",
        "mloop.registry",
        "mloop.tracking",
        "mloop.data",
        "mloop.cli",
    ),
    "mloop.signature": ("mloop.training", "mloop.registry", "mloop.tracking", "mloop.cli"),
    "mloop.render": ("mloop.cli",),
    "mloop.tracking": ("mloop.training", "mloop.registry", "mloop.cli"),
    "mloop.training": ("mloop.cli",),
    "mloop.artifacts": ("mloop.cli",),
    "mloop.flavors": ("mloop.cli",),
    # serving: endpoints and batch are services; predlog sits beside store; serving is an edge
    "mloop.endpoints": ("mloop.cli", "mloop.serving", "mloop.training"),
    "mloop.batch": ("mloop.cli", "mloop.serving", "mloop.training"),
    "mloop.predlog": (
        "mloop.cli",
        "mloop.serving",
        "mloop.training",
        "mloop.registry",
        "mloop.endpoints",
        "mloop.monitoring",
    ),
    "mloop.serving": ("mloop.cli", "mloop.training"),
    # monitoring reads the log, the store and the registry; the server's feedback route calls it
    "mloop.monitoring": ("mloop.cli", "mloop.serving"),
    # executors run what services hand them; they know no service
    "mloop.executors": (
        "mloop.cli",
        "mloop.serving",
        "mloop.training",
        "mloop.registry",
        "mloop.tracking",
        "mloop.batch",
    ),
    "mloop.pipelines": ("mloop.cli", "mloop.serving"),
    # the loop composes data, training, registry, endpoints, monitoring and rollouts; edges call it
    "mloop.loop": ("mloop.cli", "mloop.serving"),
    # rollouts drive endpoints and the registry from monitoring's figures; the agent calls them
    # (a verdict ends the job that owns the rollout through the jobs table, not mloop.loop)
    "mloop.rollouts": ("mloop.cli", "mloop.serving", "mloop.training", "mloop.loop"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """Every module an ``import``/``from … import`` in the file names, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            # `from mloop import cli` imports the subpackage mloop.cli
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _problems(path: Path, module: str) -> list[str]:
    banned = [b for owner, bs in FORBIDDEN.items() if _within(module, owner) for b in bs]
    if not _within(module, "mloop.cli") and module != "mloop.__main__":
        banned.append("mloop.cli")  # only the entry point sits above the CLI
    problems: dict[int, str] = {}  # one per statement: `from a import b` also names a.b
    for line, name in _imports(path, module):
        hit = next((b for b in banned if _within(name, b)), None)
        if hit and line not in problems:
            problems[line] = f"{module}:{line} imports {name} ({hit} is above it)"
    return list(problems.values())


def _violations() -> list[str]:
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += _problems(path, _module_name(path))
    return sorted(set(found))


def test_no_module_imports_a_layer_above_it() -> None:
    problems = _violations()
    assert not problems, "imports that point up:\n" + "\n".join(problems)


def test_the_walker_catches_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The check is only worth something if it would catch what it guards against."""
    lazy = tmp_path / "gates.py"
    lazy.write_text("def f():\n    from mloop.training.train import train\n")
    relative = tmp_path / "holdout.py"
    relative.write_text("from ..training import estimators\nfrom ..cli import output\n")
    assert _problems(lazy, "mloop.registry.gates") == [
        "mloop.registry.gates:2 imports mloop.training.train (mloop.training is above it)"
    ]
    assert len(_problems(relative, "mloop.registry.holdout")) == 2
    assert _problems(relative, "mloop.cli.models") == []  # the CLI may import the trainer
    assert _problems(lazy, "mloop.cli.train") == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_every_guarded_package_exists(package: str) -> None:
    where = SRC / package.replace(".", "/")
    if package in {"mloop.signature", "mloop.render"} and not where.with_suffix(".py").exists():
        pytest.skip(f"{package} is not written yet")
    assert where.is_dir() or where.with_suffix(".py").is_file(), (
        f"{package} moved: update FORBIDDEN"
    )
