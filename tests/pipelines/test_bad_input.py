"""Bad input to `mloop pipeline run` is one sentence and exit 2, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.conftest import FLOW

# Refused before anything is written: SQLite is enough.
pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nope"], "No pipeline 'nope'"),
        (["flow", "--param", "speed=3"], "no parameter 'speed'"),
        (["flow", "--param", "offset=fast"], "is not a number"),
        (["flow", "--param", "data=missing.txt"], "does not exist"),
        (["flow", "--param", "offset"], "KEY=VALUE"),
        (["flow", "--param", "offset=1", "--param", "offset=2"], "--param offset is given twice"),
        (["flow", "--no-cache", "--resume", "abc"], "give one of them"),
        (["flow", "--resume", "zzzz"], "No pipeline run 'zzzz'"),
        (["other.py:flow"], "No pipelines file"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    cli: Any, write_flow: Callable[..., Path], args: list[str], says: str
) -> None:
    result = cli("pipeline", "run", *args)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("import mloop\ndef broken(:\n", "syntax error on line 2"),
        ("import no_such_module_here\n", "ModuleNotFoundError"),
    ],
)
def test_a_broken_pipelines_file_is_exit_2(
    cli: Any, write_flow: Callable[..., Path], text: str, says: str
) -> None:
    write_flow(text)
    result = cli("pipeline", "run", "flow")
    assert result.exit_code == 2
    assert says in result.stderr and "Traceback" not in result.stderr


LISTED = """

@mloop.pipeline
def listed(values: list = [1], limit: int | None = None, share: float | None = None):
    return total(values)
"""


@pytest.mark.parametrize(
    ("param", "says"),
    [
        ("values=notalist", "--param values='notalist' is not a Python literal of type list"),
        ("values={'a': 1}", "is not a Python literal of type list"),
        ("limit=abc", "--param limit='abc' is not a Python literal of type int or None"),
        ("share='x'", "is not a Python literal of type float or None"),
    ],
)
def test_a_literal_of_the_wrong_type_is_refused(
    cli: Any, write_flow: Callable[..., Path], param: str, says: str
) -> None:
    write_flow(FLOW + LISTED)
    result = cli("pipeline", "run", "listed", "--param", param)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr


def test_a_literal_of_the_declared_type_runs(cli: Any, write_flow: Callable[..., Path]) -> None:
    write_flow(FLOW + LISTED)
    params = ("values=[2, 3]", "limit=None", "share=1")
    result = cli(
        "pipeline", "run", "listed", *(a for p in params for a in ("--param", p)), "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["params"] == {"values": "[2, 3]", "limit": None, "share": 1}


def test_a_folder_named_as_the_pipelines_file_is_refused(
    cli: Any, write_flow: Callable[..., Path], workspace: Any
) -> None:
    (workspace.root / "flows").mkdir()
    result = cli("pipeline", "run", "flows:flow")
    assert result.exit_code == 2, result.stderr
    assert "is a folder, not a pipelines file" in result.stderr
