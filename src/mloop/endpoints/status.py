"""What a running server says about each endpoint, for ``mloop endpoints show`` to read.

The server (``mloop serve``) writes one small JSON file per endpoint,
``<workspace>/.mloop/serving/status/<endpoint>.json``, replaced atomically (temp file, rename)
every time something changes and at least every few seconds: its pid and URL, the revision it
serves, whether the endpoint is ready (and why not), and how often the shadow agreed with the
primary. A file older than ``STALE_AFTER_S`` means no server is running (it was killed, or
stopped without cleaning up), and ``read_status`` returns None as if there were no file.

Files, not the metadata store: the server writes this twice a second or so, which is not a
change anyone needs in the audit trail, and reading it must not wait behind store writers.
Endpoint names follow the model-name rules, so a name is a safe file name.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mloop.config import STATE_DIR

STALE_AFTER_S = 10.0


def status_folder(root: Path) -> Path:
    """Where servers of the workspace at ``root`` write their per-endpoint status files."""
    return root / STATE_DIR / "serving" / "status"


@dataclass(frozen=True)
class EndpointStatus:
    """One endpoint as one server process sees it."""

    endpoint: str
    pid: int
    url: str
    updated_at: dt.datetime
    ready: bool
    reason: str | None = None  # why it is not ready (a model that cannot load, …)
    revision: int | None = None  # the revision the server serves
    shadow_compared: int = 0
    shadow_agreed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shadow_agreement(self) -> float | None:
        """Share of shadow answers equal to the primary's, once any was compared."""
        return self.shadow_agreed / self.shadow_compared if self.shadow_compared else None

    def to_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        shown["updated_at"] = self.updated_at.isoformat()
        shown["shadow_agreement"] = self.shadow_agreement
        return shown

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EndpointStatus:
        updated = dt.datetime.fromisoformat(str(data["updated_at"]))
        if updated.tzinfo is None:
            updated = updated.replace(tzinfo=dt.UTC)
        return cls(
            endpoint=str(data["endpoint"]),
            pid=int(data["pid"]),
            url=str(data["url"]),
            updated_at=updated,
            ready=bool(data["ready"]),
            reason=data.get("reason"),
            revision=None if data.get("revision") is None else int(data["revision"]),
            shadow_compared=int(data.get("shadow_compared") or 0),
            shadow_agreed=int(data.get("shadow_agreed") or 0),
            extra=dict(data.get("extra") or {}),
        )


def status_path(folder: Path, endpoint: str) -> Path:
    return folder / f"{endpoint}.json"


def write_status(folder: Path, status: EndpointStatus) -> Path:
    """Replace the endpoint's status file atomically (a reader sees the old file or the new one)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = status_path(folder, status.endpoint)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{status.endpoint}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(status.to_dict(), handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def remove_status(folder: Path, endpoint: str) -> None:
    """Forget the endpoint's status (a server stopping, or no longer serving it)."""
    status_path(folder, endpoint).unlink(missing_ok=True)


def read_status(
    folder: Path,
    endpoint: str,
    *,
    max_age: float = STALE_AFTER_S,
    now: dt.datetime | None = None,
) -> EndpointStatus | None:
    """The endpoint's status if a server wrote it in the last ``max_age`` seconds, else None.

    An unreadable or half-understood file counts as no server: this feeds a display, never a
    decision.
    """
    try:
        data = json.loads(status_path(folder, endpoint).read_text(encoding="utf-8"))
        status = EndpointStatus.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    age = ((now or dt.datetime.now(dt.UTC)) - status.updated_at).total_seconds()
    return status if age <= max_age else None
