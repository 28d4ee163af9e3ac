"""mloop: the machine-learning operating loop in one package.

The public API is ``__all__`` and nothing else: heavy modules load on first use, so
``import mloop`` opens no file, socket or database and stays fast, and the namespace holds no
helper a user could mistake for API (checked by tests/test_public_api.py).
"""

import sys as _sys
from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from mloop.errors import (
    AlreadyExists,
    GateFailed,
    IntegrityError,
    InvalidInput,
    MloopError,
    NotFound,
    UntrustedArtifact,
    ValidationFailed,
)

del errors  # type: ignore[name-defined]  # noqa: F821 - the submodule stays importable, not API

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Workspace": "mloop.workspace",
    "Signature": "mloop.signature",
    "add_dataset": "mloop.api",
    "deploy": "mloop.api",
    "drift": "mloop.api",
    "get_dataset": "mloop.api",
    "load_dataset": "mloop.api",
    "load_model": "mloop.api",
    "predict": "mloop.api",
    "start_run": "mloop.fluent",
    "active_run": "mloop.fluent",
    "step": "mloop.pipelines",
    "pipeline": "mloop.pipelines",
}

if _TYPE_CHECKING:
    from mloop.api import (
        add_dataset,
        deploy,
        drift,
        get_dataset,
        load_dataset,
        load_model,
        predict,
    )
    from mloop.fluent import active_run, start_run
    from mloop.pipelines import pipeline, step
    from mloop.signature import Signature
    from mloop.workspace import Workspace

__all__ = [
    "AlreadyExists",
    "GateFailed",
    "IntegrityError",
    "InvalidInput",
    "MloopError",
    "NotFound",
    "Signature",
    "UntrustedArtifact",
    "ValidationFailed",
    "Workspace",
    "__version__",
    "active_run",
    "add_dataset",
    "deploy",
    "drift",
    "get_dataset",
    "load_dataset",
    "load_model",
    "pipeline",
    "predict",
    "start_run",
    "step",
]


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        if f"mloop.{name}" in _sys.modules:  # `import mloop.errors; mloop.errors.NotFound`
            return _sys.modules[f"mloop.{name}"]
        raise AttributeError(f"module 'mloop' has no attribute {name!r}")
    value = getattr(_import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
