"""``NAME@SELECTOR`` references, shared by datasets (``churn@3``) and models (``churn@champion``)."""

from __future__ import annotations

import difflib
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


def did_you_mean(name: str, names: list[str]) -> str | None:
    """``did you mean 'a' or 'b'?`` for the names closest to ``name`` (spelling, case, spaces
    around it), or None when none is close."""
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    folded = name.strip().casefold()
    close += [n for n in names if n.strip().casefold() == folded and n not in close]
    if not close:
        return None
    return "did you mean " + " or ".join(repr(n) for n in close[:3]) + "?"


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


# What to do instead of ``NAME@N`` where a name goes alone, by what the command does.
VERSION_ARGUMENT = "here the name goes alone ({name!r}), with the version as its own argument"
NUMBERED = "{command} numbers the versions it makes ({name}@1, {name}@2, …), so give the name alone"
WHOLE_DATASET = (
    "the schema belongs to the dataset, not to one version: give the name alone ({name!r})"
)


def check_name(name: str, *, what: str = "Name", fix: str = VERSION_ARGUMENT) -> str:
    """``name`` when it is a plain name; raises ``InvalidInput`` otherwise.

    ``fix`` finishes the sentence for ``NAME@N`` (with ``{name}`` for the bare name): what ``@``
    means is said first, then what to type here, which depends on the command.
    """
    if "@" in name:
        bare = name.partition("@")[0] or "NAME"
        raise InvalidInput(
            f"{what} {name!r} contains '@', which joins a name to a version (NAME@N) where one "
            f"version is meant; {fix.format(name=bare)}."
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
