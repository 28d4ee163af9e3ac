"""``--param KEY=VALUE``: values are read as Python (or JSON) literals, anything else as text.

``C=0.5`` is a float, ``max_depth=None`` is None, ``class_weight='balanced'`` and
``class_weight=balanced`` are both the text, ``hidden=(64, 32)`` a tuple, ``C=inf`` infinity
(written the way scikit-learn's own messages write it), ``early_stopping=true`` a bool.
"""

from __future__ import annotations

import ast
import json
import math
from typing import Any

from mloop.errors import InvalidInput

HOW = (
    "--param values are read as Python literals (C=0.5, C=inf, max_depth=None, "
    "class_weight='balanced', hidden=(64, 32)); anything else is text"
)
_WORDS: dict[str, Any] = {
    "inf": math.inf,
    "+inf": math.inf,
    "infinity": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
    "nan": math.nan,
    "none": None,
    "null": None,
    "true": True,
    "false": False,
}


def parse_value(raw: str) -> Any:
    text = raw.strip()
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return raw


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs into a dict; raises ``InvalidInput`` for a pair without ``=`` or a key,
    and for a key given twice (the last one would win without a word)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise InvalidInput(
                f"--param {pair!r} is not KEY=VALUE with a parameter name as KEY; write e.g. "
                f"--param C=0.5 ({HOW})."
            )
        if key in params:
            raise InvalidInput(f"--param {key} is given twice; keep one of them.")
        params[key] = parse_value(raw)
    return params
