"""A workspace whose churn endpoint has a logged hour of traffic, and a monitor declared for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from mloop.predlog import folder_for
from mloop.workspace import Workspace
from tests.monitoring.logdata import T0, churn_records, write_log

HOUR = f"{T0.isoformat()}/{(T0 + dt.timedelta(hours=1)).isoformat()}"


def configure(workspace: Workspace, toml: str) -> Workspace:
    """Append ``toml`` to the workspace's mloop.toml and open the workspace again (settings are
    read once, at open)."""
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n" + toml, encoding="utf-8")
    return Workspace.open(
        workspace.root,
        environ={"MLOOP_STORE_URL": workspace.settings.store_url, "MLOOP_USER": "tester"},
    )


@pytest.fixture
def logged(workspace: Workspace) -> Path:
    """An hour of churn traffic: 2,000 primary records (two-year contracts 3x slower, every 50th
    a 5xx, every 20th a 422), 300 shadow records (every 10th prediction flipped)."""
    folder = folder_for(workspace.settings)
    write_log(
        folder,
        "churn",
        churn_records(2000, slow_contract="two-year", error_every=50, reject_every=20),
        churn_records(300, role="shadow", version=2, flip_every=10),
    )
    return folder


@pytest.fixture
def reopen(workspace: Workspace) -> Iterator[object]:
    opened: list[Workspace] = []

    def run(toml: str) -> Workspace:
        ws = configure(workspace, toml)
        opened.append(ws)
        return ws

    yield run
    for ws in opened:
        ws.close()
