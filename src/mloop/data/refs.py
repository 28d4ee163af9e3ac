"""``NAME@SELECTOR`` references, shared by datasets (``churn@3``) and models (``churn@champion``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mloop.errors import InvalidInput

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SHORTLIST = 20


def shortlist(names: list[str], *, total: int | None = None, limit: int = SHORTLIST) -> str:
    """Names for an error message: ``a, b, c``, or the first ``limit`` then ``and N more``.

    ``total`` is the full count when the caller fetched only the first names (a LIMIT query).
    """
    total = len(names) if total is None else total
    shown = ", ".join(names[:limit])
    more = total - min(len(names), limit)
    return f"{shown} and {more} more" if more > 0 else shown


@dataclass(frozen=True)
class Ref:
    name: str
    selector: str | None  # None or "latest": newest; digits: a version; else an alias

    @property
    def version(self) -> int | None:
        return int(self.selector) if self.selector and self.selector.isdigit() else None

    @property
    def latest(self) -> bool:
        return self.selector in (None, "latest")


def check_name(name: str, *, what: str = "Name") -> str:
    if "@" in name:
        bare = name.partition("@")[0]
        raise InvalidInput(
            f"{what} {name!r} includes a version; here the name goes alone ({bare!r}), with the "
            "version as its own argument."
        )
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"{what} {name!r} is not allowed; use letters, digits, '_', '.', '-' (start with a letter or digit, at most 100)."
        )
    return name


def parse_ref(text: str, *, what: str = "Name") -> Ref:
    name, sep, selector = text.strip().partition("@")
    check_name(name, what=what)
    if sep and not selector:
        raise InvalidInput(
            f"{text!r} ends with '@'; write NAME@N or NAME@latest (models also NAME@ALIAS)."
        )
    return Ref(name, selector or None)
