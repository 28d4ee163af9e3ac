"""mloop: the machine-learning operating loop in one package.

The public API is ``__all__``; heavy modules load on first use, so ``import mloop`` opens no file,
socket or database and stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Workspace": "mloop.workspace",
    "add_dataset": "mloop.api",
    "get_dataset": "mloop.api",
    "load_dataset": "mloop.api",
    "load_model": "mloop.api",
    "start_run": "mloop.fluent",
    "active_run": "mloop.fluent",
}

if TYPE_CHECKING:
    from mloop.api import add_dataset, get_dataset, load_dataset, load_model
    from mloop.fluent import active_run, start_run
    from mloop.workspace import Workspace

__all__ = [
    "AlreadyExists",
    "GateFailed",
    "IntegrityError",
    "InvalidInput",
    "MloopError",
    "NotFound",
    "UntrustedArtifact",
    "ValidationFailed",
    "Workspace",
    "__version__",
    "active_run",
    "add_dataset",
    "get_dataset",
    "load_dataset",
    "load_model",
    "start_run",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
