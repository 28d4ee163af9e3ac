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
}

if TYPE_CHECKING:
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
