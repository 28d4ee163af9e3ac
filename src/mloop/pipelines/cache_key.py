"""A step's cache key: what it computes from, never what anything is called.

The key is BLAKE3 over four parts:

* **code**: the step function's syntax tree, and the trees of every function and class of the
  user's project it reaches through its globals (followed recursively: a helper that calls a
  helper counts). Project code is code in the pipelines file's folder that is not an installed
  package; library code is versioned by its package, not hashed here.
* **constants**: the value (pickled, else ``repr``) of every other module-level name that code
  reads, so editing ``THRESHOLD = 0.5`` re-runs the steps that read it.
* **inputs**: by content. A step output by its artifact's content hash; a ``pathlib.Path`` by the
  file's bytes (a folder by every file's relative path and bytes); a ``DatasetRef`` by its
  version's content hash.
* **parameters**: every other argument's value, defaults included.

Code is hashed as its syntax tree (``ast.dump`` without positions), so a comment, a blank line
or re-indentation does not re-run a step while any change to what runs (a docstring included)
does (docs/pipelines.md compares this with ZenML, KFP and Flyte: an import path in the key,
artifact ids instead of content, code edits ignored unless a version string is bumped).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pickle
import textwrap
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mloop.hashing import hash_bytes, hash_file
from mloop.pipelines.graph import Output, Pipeline, Step
from mloop.pipelines.loader import in_project
from mloop.pipelines.params import DatasetRef


def _tree(obj: Any) -> str:
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):  # no source (built in a REPL): its bytecode stands in
        code = getattr(obj, "__code__", None)
        return repr(code.co_code) if code is not None else repr(obj)
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:  # a lambda's line: its text stands in
        return source
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def _value_digest(value: Any) -> str:
    try:
        return "p" + hash_bytes(pickle.dumps(value, protocol=5))
    except Exception:
        text = repr(value)
        if " at 0x" in text:  # an address: the type is all that is stable about it
            text = f"{type(value).__module__}.{type(value).__qualname__}"
        return "r" + hash_bytes(text.encode())


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


class CodeHasher:
    """Fingerprints of project functions, memoised for one run (steps share helpers)."""

    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = roots
        self._memo: dict[int, str] = {}

    def fingerprint(self, fn: Any) -> str:
        parts: dict[str, str] = {}
        self._walk(fn, parts, set())
        return hash_bytes(repr(sorted(parts.items())).encode())

    def _own(self, obj: Any) -> bool:
        try:
            filename = inspect.getsourcefile(obj) or inspect.getfile(obj)
        except TypeError:
            return False
        return in_project(filename, self.roots)

    def _walk(self, obj: Any, parts: dict[str, str], seen: set[int]) -> None:
        if isinstance(obj, (Step, Pipeline)):
            obj = obj.fn
        if id(obj) in seen:
            return
        seen.add(id(obj))
        label = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
        if id(obj) not in self._memo:
            self._memo[id(obj)] = hash_bytes(_tree(obj).encode())
        parts["code:" + label] = self._memo[id(obj)]
        functions: list[types.FunctionType] = []
        if isinstance(obj, types.FunctionType):
            functions.append(obj)
        elif isinstance(obj, type):
            functions += [v for v in vars(obj).values() if isinstance(v, types.FunctionType)]
            functions += [
                v.__func__
                for v in vars(obj).values()
                if isinstance(v, (staticmethod, classmethod))
                and isinstance(v.__func__, types.FunctionType)
            ]
        for function in functions:
            self._globals_of(function, parts, seen)

    def _project_module(self, name: str) -> types.ModuleType | None:
        if not any(
            (root / f"{name}.py").is_file() or (root / name / "__init__.py").is_file()
            for root in self.roots
        ):
            return None
        try:
            return importlib.import_module(name)
        except Exception:  # the step itself will say what is wrong with it
            return None

    def _globals_of(self, fn: types.FunctionType, parts: dict[str, str], seen: set[int]) -> None:
        namespace = fn.__globals__
        module = namespace.get("__name__", "")
        names = _names(fn.__code__)
        for name in sorted(names):
            if name in namespace:
                value = namespace[name]
            else:  # a builtin, an attribute name, or a project module imported in the body
                value = self._project_module(name)
                if value is None:
                    continue
            self._reference(f"{module}.{name}", value, names, parts, seen)
        for index, cell in enumerate(fn.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            self._reference(f"{fn.__qualname__}.<cell {index}>", value, names, parts, seen)

    def _reference(
        self, label: str, value: Any, names: set[str], parts: dict[str, str], seen: set[int]
    ) -> None:
        if isinstance(value, (Step, Pipeline)):
            value = value.fn
        if isinstance(value, types.ModuleType):
            # `helpers.clean(...)`: follow the attributes this code names on a project module
            if in_project(getattr(value, "__file__", None), self.roots):
                for attribute in sorted(names):
                    inner = getattr(value, attribute, None)
                    if inner is not None and not isinstance(inner, types.ModuleType):
                        self._reference(f"{value.__name__}.{attribute}", inner, set(), parts, seen)
            return
        if isinstance(value, (types.FunctionType, type)):
            if self._own(value):
                self._walk(value, parts, seen)
            return
        parts["value:" + label] = _value_digest(value)


def _path_digest(path: Path) -> str:
    if path.is_dir():
        entries = sorted(p for p in path.rglob("*") if p.is_file())
        listing = [(str(p.relative_to(path)), hash_file(p)) for p in entries]
        return hash_bytes(repr(listing).encode())
    return hash_file(path)


def input_record(value: Any, upstream_hash: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    """What a step read, as stored in ``pipeline_steps.inputs`` (and hashed into its key)."""
    if isinstance(value, Output):
        out = upstream_hash[id(value.node)]
        return {"kind": "output", "step": value.node.name, "hash": out["hash"]}
    if isinstance(value, Path):
        return {"kind": "file", "path": str(value), "hash": "blake3:" + _path_digest(value)}
    if isinstance(value, DatasetRef):
        return {"kind": "dataset", "dataset": value.ref, "hash": "blake3:" + value.content_hash}
    record: dict[str, Any] = {"kind": "value", "hash": _value_digest(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        record["value"] = value
    else:
        record["value"] = repr(value)[:200]
    return record


def cache_key(code: str, inputs: Mapping[str, dict[str, Any]]) -> str:
    """The key: the code fingerprint and each argument's content hash, by parameter name (the
    step's own parameters, which are part of its code).

    Names are left out on purpose: the step's name, the upstream step's name and the path of an
    input file do not change what the step computes.
    """
    content = sorted((name, record["hash"]) for name, record in inputs.items())
    return hash_bytes(repr(("mloop-step-1", code, content)).encode())
