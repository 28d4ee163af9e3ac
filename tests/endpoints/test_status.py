"""The per-endpoint status files a server writes and `endpoints show` reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mloop.endpoints.status import (
    EndpointStatus,
    read_status,
    remove_status,
    status_folder,
    write_status,
)


def test_status_round_trips_and_goes_stale_or_unreadable_as_no_server(tmp_path: Path) -> None:
    folder = status_folder(tmp_path)
    assert folder == tmp_path / ".mloop" / "serving" / "status"
    assert read_status(folder, "api") is None
    now = dt.datetime.now(dt.UTC)
    written = EndpointStatus("api", 42, "http://127.0.0.1:9", now, True, revision=3, extra={"k": 1})
    path = write_status(folder, written)
    assert path == folder / "api.json"
    assert read_status(folder, "api", now=now) == written
    later = now + dt.timedelta(seconds=10.5)
    assert read_status(folder, "api", now=later) is None, "silent for over 10 s: no server"
    assert read_status(folder, "api", now=later, max_age=30) == written
    path.write_text('{"endpoint": "api", "pid": ', encoding="utf-8")
    assert read_status(folder, "api") is None, "a torn or foreign file reads as no server"
    remove_status(folder, "api")
    remove_status(folder, "api")
    assert not path.exists()
