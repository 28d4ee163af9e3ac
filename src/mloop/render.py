"""The JSON shapes of results, one per kind, for every edge that shows them.

``--json`` on the command line and (next) the HTTP API return the same documents, so a script
written against one works against the other. Values are plain JSON types (datetimes as ISO text,
signatures as their stored document); the edges only serialise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mloop.data.validation import ValidationReport


def validation(report: ValidationReport) -> dict[str, Any]:
    """A validation report: passed or not, rows checked, and each violation with example rows."""
    return {
        "ok": report.ok,
        "rows_checked": report.rows_checked,
        "violations": [dataclasses.asdict(v) for v in report.violations],
    }
