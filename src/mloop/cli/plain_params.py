"""Typer's value coercion for mloop's plain options, without importing pydantic.

Typer (0.2x) coerces every parameter it processes through a pydantic ``TypeAdapter``, built on
first use; importing pydantic and building the adapters was ~0.25 s of each command's
start-up, most of the budget of a cached ``mloop pipeline run``. Every option mloop declares
is a ``str``, ``int``, ``float``, ``Path`` or ``list[str]``, and for the values a shell passes
(``"12"``, ``"a/b.csv"``) the result is plain Python (``int("12")``, ``Path("a/b.csv")``).
``lighten`` gives such parameters a coercion that converts those values directly and hands
anything else (``" 12"``, ``"1_000"``, an out-of-range number, bytes) to Typer's own adapter,
so results, error messages and exit codes are Typer's. ``tests/cli/test_plain_params.py``
checks the two agree over many inputs.

Typer keeps the coercion in the private, lazily set ``_runtime_param`` of each parameter; if a
Typer release renames it, ``lighten`` changes nothing and Typer coerces as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from typer._click import Command, Context
from typer.core import TyperGroup

try:
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    from typer._param_types import coerce_cli_path
    from typer.core import _TyperParameter
except ImportError:  # pragma: no cover - another Typer: it keeps its own coercion
    RuntimeParam = None  # type: ignore[assignment,misc]

# Strings for which int() / float() and pydantic's lax parsing agree (no spaces, underscores,
# leading zeros or words such as "inf"): anything else goes to Typer's adapter.
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?(?:[eE][+-]?[0-9]{1,3})?")

_UNHANDLED = object()


def _unhandled(value: Any) -> Any:
    return _UNHANDLED


def _as_bool(value: Any) -> Any:
    return value if type(value) is bool else _UNHANDLED


def _as_str(value: Any) -> Any:
    return value if type(value) is str else _UNHANDLED


def _as_int(value: Any) -> Any:
    if type(value) is int:
        return value
    if type(value) is str and _INT.fullmatch(value):
        return int(value)
    return _UNHANDLED


def _as_float(value: Any) -> Any:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    if type(value) is str and _FLOAT.fullmatch(value):
        return float(value)
    return _UNHANDLED


def _as_str_list(value: Any) -> Any:
    if type(value) is str:
        return [value]
    if isinstance(value, (list, tuple)) and all(type(item) is str for item in value):
        return list(value)
    return _UNHANDLED


def _in_range(convert: Callable[[Any], Any], low: Any, high: Any) -> Callable[[Any], Any]:
    def converted(value: Any) -> Any:
        result = convert(value)
        if result is _UNHANDLED or (low is not None and result < low):
            return _UNHANDLED
        if high is not None and result > high:
            return _UNHANDLED
        return result

    return converted


if RuntimeParam is not None:

    class _PlainParam(RuntimeParam):
        """A direct conversion for the usual values, Typer's own coercion for the rest."""

        _descriptor: TypeDescriptor
        _convert: Callable[[Any], Any]
        _typer_param: RuntimeParam | None

        def __init__(self, descriptor: TypeDescriptor, convert: Callable[[Any], Any]) -> None:
            super().__init__(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
            )
            object.__setattr__(self, "_descriptor", descriptor)
            object.__setattr__(self, "_convert", convert)
            object.__setattr__(self, "_typer_param", None)

        def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
            result = self._convert(value)
            if result is not _UNHANDLED:
                return result
            typer_param = self._typer_param
            if typer_param is None:
                typer_param = build_runtime_param(self._descriptor)
                object.__setattr__(self, "_typer_param", typer_param)
            return typer_param._coerce_value(value, param=param, ctx=ctx)

    class _PlainPathParam(_PlainParam):
        """``Path``: Typer's checks (exists, file or dir, readable) on ``Path(value)``."""

        def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
            # Typer builds Path(value) with pydantic, then checks it and names the path as
            # typed in its messages: direct only where Path(value) prints as typed.
            if type(value) is str and "\0" not in value and str(Path(value)) == value:
                return coerce_cli_path(
                    Path(value), self.parameter_info, path_type=Path, param=param, ctx=ctx
                )
            return super()._coerce_value(value, param, ctx)


def _converter(descriptor: Any) -> Callable[[Any], Any] | None:
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.file_annotation is not None or descriptor.is_choice:
        return None
    annotation = descriptor.annotation
    if annotation is bool:
        return _as_bool
    if annotation is str:
        return _as_str
    if annotation == list[str]:
        return _as_str_list
    if annotation is Path and info.path_type is None:
        return _unhandled  # _PlainPathParam converts the plain ones
    if annotation in (int, float) and not info.clamp:
        convert = _as_int if annotation is int else _as_float
        if info.min is None and info.max is None:
            return convert
        return _in_range(convert, info.min, info.max)
    return None


def _parameters(command: Command, *, default_help: bool = True) -> Iterator[Any]:
    yield from command.params
    # The --help option Typer adds on first use, made now (as it would be) so it is lightened
    # too; only where no context_settings name other help options.
    default_help = default_help and "help_option_names" not in command.context_settings
    if default_help:
        help_option = command.get_help_option(Context(command))
        if help_option is not None:
            yield help_option
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            yield from _parameters(sub, default_help=default_help)


def lighten(command: Command) -> None:
    """Give every plain parameter of ``command`` and its sub-commands the direct coercion."""
    if RuntimeParam is None:  # pragma: no cover
        return
    for param in _parameters(command):
        if not isinstance(param, _TyperParameter) or param._runtime_param is not None:
            continue
        descriptor = param.type_descriptor
        convert = _converter(descriptor)
        if convert is None:
            continue
        if descriptor.annotation is Path:
            param._runtime_param = _PlainPathParam(descriptor, convert)
        else:
            param._runtime_param = _PlainParam(descriptor, convert)
