"""Find and load the user's pipelines file as a module that pool workers can import too.

The file is executed under a stable module name (``mloop_user_<stem>_<hash of its path>``) and
registered in ``sys.modules``; its folder goes on ``sys.path``. A worker process (forkserver, or a
Ray worker on this machine) loads the same file under the same name before it runs a step, so a
step's function, and any class of the user's its output is an instance of, pickle by reference.

Every load reads the file afresh and forgets the project's other modules (its helpers), so a
process that runs a pipeline twice (a notebook, the test suite) sees edits made in between: the
cache key must be computed from the code that will run, not from what was imported earlier.
"""

from __future__ import annotations

import functools
import importlib.util
import linecache
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from mloop.errors import InvalidInput, NotFound
from mloop.hashing import hash_bytes

DEFAULT_FILE = "pipelines.py"
_MLOOP_PACKAGE = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    stem = re.sub(r"\W", "_", path.stem) or "pipelines"
    return f"mloop_user_{stem}_{hash_bytes(str(path).encode())[:10]}"


def _installed(path: Path) -> bool:
    """Code that belongs to an installed distribution or to Python itself, never the project's."""
    text = str(path)
    if "site-packages" in text or "dist-packages" in text:
        return True
    if path.is_relative_to(_MLOOP_PACKAGE):
        return True
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return any(path.is_relative_to(prefix) for prefix in prefixes if prefix)


@functools.lru_cache(maxsize=4096)
def in_project(filename: str | None, roots: tuple[Path, ...]) -> bool:
    """Whether a module or function defined in ``filename`` is the user's own code."""
    if not filename or filename.startswith("<"):
        return False
    # A string test first: most modules (the standard library, packages) are nowhere near the
    # project, and resolving each of ~500 module paths cost 70 ms of a cached run.
    if not any(os.path.abspath(filename).startswith(str(root)) for root in roots):
        return False
    path = Path(filename).resolve()
    return any(path.is_relative_to(root) for root in roots) and not _installed(path)


def seed_source(path: Path, text: str) -> None:
    """Put ``text`` in linecache as ``path``'s lines, so ``inspect`` and tracebacks read exactly
    the code that was executed (a rewrite within one mtime tick would otherwise go unseen)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[str(path)] = (len(text), None, lines, str(path))


_FOLDERS_LOADED: set[Path] = set()  # every pipelines folder this process has loaded from


def _forget_project_modules(roots: tuple[Path, ...]) -> None:
    """Drop the modules of this project and of any other this process loaded pipelines from
    (a notebook or a test suite switching workspaces must not keep another folder's ``helpers``)."""
    _FOLDERS_LOADED.update(roots)
    folders = tuple(_FOLDERS_LOADED)
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if name.startswith("mloop_user_") or in_project(filename, folders):
            del sys.modules[name]
            if filename:
                linecache.cache.pop(str(Path(filename).resolve()), None)
                linecache.cache.pop(filename, None)


def load_file(path: Path) -> ModuleType:
    """Execute the pipelines file at ``path`` afresh; raises ``InvalidInput`` when it cannot."""
    path = path.resolve()
    roots = (path.parent,)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(
            f"No pipelines file {path}; create it or set [pipelines] file in mloop.toml."
        ) from None
    except IsADirectoryError:
        raise InvalidInput(
            f"{path} is a folder, not a pipelines file; name the Python file that defines the "
            "pipeline (FILE.py:NAME), or set [pipelines] file in mloop.toml."
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput(
            f"The pipelines file {path} is not UTF-8 text; save it as UTF-8."
        ) from None
    _forget_project_modules(roots)
    for folder in _FOLDERS_LOADED - {path.parent}:
        while str(folder) in sys.path:
            sys.path.remove(str(folder))
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    seed_source(path, text)
    try:
        code = compile(text, str(path), "exec")
    except SyntaxError as exc:
        raise InvalidInput(
            f"The pipelines file {path} has a syntax error on line {exc.lineno} ({exc.msg}); "
            "fix it and run again."
        ) from None
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        del sys.modules[name]
        raise InvalidInput(
            f"The pipelines file {path} failed while loading ({type(exc).__name__}: {exc}); "
            "fix it (run `python` on it to see the traceback) and run again."
        ) from exc
    return module


def pipelines_file(root: Path, raw: Mapping[str, Any]) -> Path:
    """The file ``[pipelines] file`` names (relative to the workspace root), else pipelines.py."""
    table = raw.get("pipelines", {})
    if not isinstance(table, Mapping):
        raise InvalidInput('[pipelines] in mloop.toml must be a table (file = "pipelines.py").')
    unknown = sorted(set(table) - {"file"})
    if unknown:
        raise InvalidInput(f"[pipelines] in mloop.toml has unknown key {unknown[0]!r}; use file.")
    name = table.get("file", DEFAULT_FILE)
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"[pipelines] file in mloop.toml must be a file name, not {name!r}.")
    path = Path(name).expanduser()
    return path if path.is_absolute() else root / path


def split_target(target: str, *, root: Path, raw: Mapping[str, Any]) -> tuple[Path, str]:
    """``NAME`` (from the configured file) or ``FILE:NAME`` → the file and the pipeline's name."""
    file_part, sep, name = target.rpartition(":")
    if not sep:
        return pipelines_file(root, raw), target
    if not name or not file_part:
        raise InvalidInput(f"Pipeline {target!r} must be NAME or FILE:NAME (pipelines.py:train).")
    path = Path(file_part).expanduser()
    if not path.is_absolute():
        path = path if path.exists() else root / path
    return path, name


def find_pipeline(module: ModuleType, name: str, path: Path) -> Any:
    from mloop.pipelines.graph import Pipeline

    found = getattr(module, name, None)
    if isinstance(found, Pipeline):
        return found
    known = sorted(k for k, v in vars(module).items() if isinstance(v, Pipeline))
    listed = ", ".join(known) if known else "none (mark a function with @mloop.pipeline)"
    raise InvalidInput(f"No pipeline {name!r} in {path}; its pipelines are: {listed}.")
