"""User code named as ``module:function`` (custom checks, custom models), imported from the workspace."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from mloop.errors import InvalidInput


def load_callable(spec: str, *, root: Path | None, what: str) -> Any:
    """Import ``module:attribute`` with ``root`` on ``sys.path``; raises ``InvalidInput`` naming ``what``."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise InvalidInput(f"{what}: {spec!r} is not MODULE:CALLABLE.")
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(
            f"{what}: cannot import {module_name!r} ({exc}); put it in the workspace folder."
        ) from exc
    except Exception as exc:  # found, but its own code fails on import (a SyntaxError, a raise)
        raise InvalidInput(
            f"{what}: importing {module_name!r} failed ({type(exc).__name__}: {exc}); fix that module."
        ) from exc
    target = getattr(module, attribute, None)
    if not callable(target):
        raise InvalidInput(f"{what}: {module_name} has no callable {attribute!r}.")
    return target
