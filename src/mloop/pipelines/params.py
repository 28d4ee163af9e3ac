"""A pipeline's parameters: ``--param k=v`` read by the annotation of the pipeline function.

``int``, ``float``, ``bool`` and ``str`` are read as such; ``pathlib.Path`` is a file input, keyed
by its content; ``DatasetRef`` is ``NAME@V`` (or ``NAME``/``NAME@latest``), resolved once at the
start of a run to one version and keyed by that version's content hash. Anything else is read as a
Python literal (as ``mloop train --param`` reads values).
"""

from __future__ import annotations

import ast
import inspect
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pandas as pd

    from mloop.pipelines.graph import Pipeline
    from mloop.store import Store


@dataclass(frozen=True)
class DatasetRef:
    """One dataset version as a step input; ``load()`` reads it from the run's workspace."""

    name: str
    version: int
    content_hash: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def __str__(self) -> str:
        return self.ref

    def load(self) -> pd.DataFrame:
        """The version's rows; inside a running step the workspace is the pipeline's."""
        from mloop.api import load_dataset

        return load_dataset(self.ref)


def resolve_dataset(store: Store, text: str) -> DatasetRef:
    """``NAME@V`` (or latest) to the version it means now; raises ``NotFound``."""
    import sqlalchemy as sa

    from mloop.data.refs import parse_ref
    from mloop.store import tables as t

    ref = parse_ref(text, what="Dataset name")
    query = (
        sa.select(t.dataset_versions.c.version, t.dataset_versions.c.content_hash)
        .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
        .where(t.datasets.c.name == ref.name)
    )
    if ref.latest:
        query = query.order_by(t.dataset_versions.c.version.desc()).limit(1)
    elif ref.version is not None:
        query = query.where(t.dataset_versions.c.version == ref.version)
    else:
        raise InvalidInput(f"Dataset ref {text!r} must be NAME, NAME@N or NAME@latest.")
    with store.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"No dataset version {text!r}; `mloop data ls` lists the datasets.")
    return DatasetRef(ref.name, int(row.version), str(row.content_hash))


def _annotations(pipeline: Pipeline[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(pipeline.fn)
    except Exception:  # an annotation naming something the file never imported: read as text
        return {}


def _convert(pipeline: str, name: str, raw: str, kind: Any, store: Store) -> Any:
    def refuse(what: str) -> InvalidInput:
        return InvalidInput(
            f"--param {name}={raw!r} is not {what} (pipeline {pipeline!r} declares {name}: "
            f"{getattr(kind, '__name__', kind)}); give {what}."
        )

    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise refuse("true or false")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise refuse("a whole number") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise refuse("a number") from None
    if kind is str:
        return raw
    if kind is Path:
        return Path(raw)
    if kind is DatasetRef:
        return resolve_dataset(store, raw)
    try:  # unannotated or another type: a Python literal, else the text
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    declared = _declared_types(kind)
    if declared and not isinstance(value, declared):
        names = " or ".join("None" if t is type(None) else t.__name__ for t in declared)
        raise refuse(f"a Python literal of type {names}")
    return value


LITERAL_TYPES = (int, float, complex, bool, str, bytes, list, tuple, dict, set, type(None))


def _declared_types(kind: Any) -> tuple[type, ...]:
    """The classes an annotation such as ``list``, ``dict[str, int]`` or ``int | None`` allows
    (an int where a float is), or none to check: no annotation, ``Any``, text, or a class no
    Python literal makes."""
    union = typing.get_origin(kind) in (typing.Union, types.UnionType)
    found: list[type] = []
    for part in typing.get_args(kind) if union else (kind,):
        part = typing.get_origin(part) or part
        if part not in LITERAL_TYPES:
            return ()
        found.append(part)
    return (*found, int) if float in found else tuple(found)


def bind_params(
    pipeline: Pipeline[..., Any], given: Mapping[str, str | Any], *, store: Store, root: Path
) -> dict[str, Any]:
    """The pipeline's parameters: ``given`` (text from ``--param`` or values) over its defaults.

    Paths are taken from ``root`` (the workspace) when relative and must exist; dataset refs are
    resolved. Raises ``InvalidInput`` naming the parameter for anything unknown, missing or mistyped.
    """
    signature = pipeline.signature
    hints = _annotations(pipeline)
    known = list(signature.parameters)
    unknown = sorted(set(given) - set(known))
    if unknown:
        listed = ", ".join(known) if known else "none"
        raise InvalidInput(
            f"Pipeline {pipeline.name!r} has no parameter {unknown[0]!r}; its parameters are: {listed}."
        )
    values: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        kind = hints.get(name, parameter.annotation)
        if name in given:
            value = given[name]
            if isinstance(value, str):
                value = _convert(pipeline.name, name, value, kind, store)
        elif parameter.default is not inspect.Parameter.empty:
            value = parameter.default
        else:
            raise InvalidInput(
                f"Pipeline {pipeline.name!r} needs --param {name}=VALUE (it has no default)."
            )
        if kind is DatasetRef and isinstance(value, str):
            value = resolve_dataset(store, value)
        if kind is Path and isinstance(value, str):
            value = Path(value)
        if isinstance(value, Path):
            value = value if value.is_absolute() else root / value
            if not value.exists():
                raise InvalidInput(
                    f"Pipeline {pipeline.name!r} parameter {name} names {value}, which does not "
                    "exist; give an existing file or folder."
                )
        values[name] = value
    return values


def stored_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as the run row keeps them (JSON): paths and refs as text."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, (Path, DatasetRef)):
            out[key] = str(value)
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        else:
            out[key] = repr(value)
    return out
