"""Counts in sentences: ``1 row``, ``2 rows``, ``1,000 rows``, the one spelling every message uses."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun``, made plural unless the count is one (``many`` for irregular nouns:
    ``plural(2, "entry", "entries")``); thousands separated, as people read them."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"
