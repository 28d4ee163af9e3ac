"""A pipelines file written into the test's workspace, and `mloop pipeline …` run in-process.

``FLOW`` is the file most tests start from: load (a Path input) → double (calls a helper that
reads a module-level constant) → two independent slow-ish steps → combine (a parameter).
Tests edit it with ``write_flow(**replacements)`` the way a user edits the file between runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mloop.workspace import Workspace

FLOW = """\
import os
import time
from pathlib import Path

import mloop

SCALE = 2
PAUSE = 0.0


def helper(x):
    return x * SCALE


@mloop.step
def load(path: Path) -> list:
    return [int(v) for v in path.read_text().split()]


@mloop.step
def double(values: list) -> list:
    return [helper(v) for v in values]


@mloop.step
def total(values: list) -> int:
    time.sleep(PAUSE)
    return sum(values)


@mloop.step
def biggest(values: list) -> int:
    time.sleep(PAUSE)
    return max(values)


@mloop.step
def combine(a: int, b: int, offset: float = 0.0) -> dict:
    return {"a": a, "b": b, "total": a + b + offset}


@mloop.pipeline
def flow(data: Path = Path("nums.txt"), offset: float = 0.0):
    values = double(load(data))
    return combine(total(values), biggest(values), offset=offset)
"""


@pytest.fixture
def write_flow(workspace: Workspace) -> Callable[..., Path]:
    def write(text: str = FLOW, **replace: str) -> Path:
        for old, new in replace.items():
            assert old in text, old
            text = text.replace(old, new)
        path = workspace.root / "pipelines.py"
        path.write_text(text, encoding="utf-8")
        return path

    (workspace.root / "nums.txt").write_text("1 2 3\n", encoding="utf-8")
    write()
    return write


def statuses(result: Any) -> dict[str, str]:
    """{step: status} from a `pipeline run --json` result (CliResult) or a PipelineRun."""
    if hasattr(result, "stdout"):
        data = json.loads(result.stdout)
        return {step["name"]: step["status"] for step in data["steps"]}
    return {step.name: step.status for step in result.steps}
