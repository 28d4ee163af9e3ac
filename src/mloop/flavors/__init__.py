"""Model flavors: one module per model kind, one registration line each.

Third-party flavors register through the ``mloop.flavors`` entry-point group (``name =
"package.module:Class"``), loaded on first use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from mloop.errors import InvalidInput
from mloop.flavors.base import Flavor

BUILTIN: dict[str, str] = {
    "sklearn": "mloop.flavors.sklearn:SklearnFlavor",
    "lightgbm": "mloop.flavors.native:LightGBMFlavor",
    "xgboost": "mloop.flavors.native:XGBoostFlavor",
    "onnx": "mloop.flavors.onnx:OnnxFlavor",
    "pyfunc": "mloop.flavors.pyfunc:PyfuncFlavor",  # last: the fallback for anything with predict()
}
_loaded: dict[str, Flavor] = {}


def _all_specs() -> dict[str, str]:
    specs = dict(BUILTIN)
    for entry in entry_points(group="mloop.flavors"):
        specs.setdefault(entry.name, entry.value)
    pyfunc = specs.pop("pyfunc")
    specs["pyfunc"] = pyfunc
    return specs


def _instantiate(spec: str) -> Any:
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)()


def get_flavor(name: str) -> Flavor:
    """Raises ``InvalidInput`` naming the known flavors."""
    if name not in _loaded:
        specs = _all_specs()
        if name not in specs:
            raise InvalidInput(f"Unknown model flavor {name!r}; known: {', '.join(specs)}.")
        _loaded[name] = _instantiate(specs[name])
    return _loaded[name]


def flavor_for(model: object) -> Flavor:
    """The first flavor that can store ``model`` safely; pyfunc (pickle) only as the last resort."""
    for name in _all_specs():
        flavor = get_flavor(name)
        if flavor.accepts(model):
            return flavor
    raise InvalidInput(f"mloop cannot store a {type(model).__name__}: it has no predict() method.")


def save_model(model: object) -> tuple[Flavor, bytes]:
    """``flavor_for(model)`` and the model saved in it; a flavor whose check already writes the
    file (``save_if_accepted``, as skops' trusted-type check does) writes it once."""
    for name in _all_specs():
        flavor = get_flavor(name)
        save_if_accepted = getattr(flavor, "save_if_accepted", None)
        if save_if_accepted is not None:
            data: bytes | None = save_if_accepted(model)
            if data is not None:
                return flavor, data
        elif flavor.accepts(model):
            return flavor, flavor.save(model)
    raise InvalidInput(f"mloop cannot store a {type(model).__name__}: it has no predict() method.")


def pickle_note(model: object, flavor: Flavor) -> str | None:
    """What a user should know when their model could only be stored as a pickle."""
    if flavor.name != "pyfunc":
        return None
    return (
        f"{type(model).__module__}.{type(model).__qualname__} is stored as a pickle (pyfunc flavor): "
        "no safe format (skops' trusted types, LightGBM/XGBoost native) can hold it, so it loads only "
        "from blobs this workspace wrote and whose hash the registry recorded."
    )


__all__ = ["Flavor", "flavor_for", "get_flavor", "pickle_note", "save_model"]
