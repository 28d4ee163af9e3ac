"""`mloop pipeline run|ls|show` as a user types them: exit codes, stdout, --json shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mloop.workspace import Workspace
from tests.conftest import run_mloop

STEP_KEYS = {"name", "status", "cached", "seconds", "inputs", "outputs", "error"}


def test_run_prints_the_run_id_and_show_and_ls_describe_it(
    cli: Any, write_flow: Callable[..., Path]
) -> None:
    first = cli("pipeline", "run", "flow", "--param", "offset=0.25")
    assert first.exit_code == 0, first.stderr
    run_id = first.stdout.strip().removeprefix("pipeline_run=")
    assert first.stdout == f"pipeline_run={run_id}\n"
    assert "combine" in first.stderr and "succeeded" in first.stderr
    shown = cli("pipeline", "show", run_id[:10], "--json")
    data = json.loads(shown.stdout)
    assert data["id"] == run_id and data["status"] == "succeeded"
    assert data["params"] == {"data": str(Path.cwd() / "nums.txt"), "offset": 0.25}
    assert [step["name"] for step in data["steps"]] == [
        "load",
        "double",
        "total",
        "biggest",
        "combine",
    ]
    for step in data["steps"]:
        assert set(step) >= STEP_KEYS
        assert step["outputs"]["return"]["hash"].startswith("blake3:")
    assert data["steps"][1]["inputs"]["values"]["kind"] == "output"
    assert data["steps"][1]["inputs"]["values"]["step"] == "load"
    again = cli("pipeline", "run", "flow", "--param", "offset=0.25", "--json")
    assert again.exit_code == 0
    rerun = json.loads(again.stdout)
    assert {step["status"] for step in rerun["steps"]} == {"cached"}
    assert all(step["cached"] for step in rerun["steps"])
    listing = json.loads(cli("pipeline", "ls", "--json").stdout)
    assert [entry["id"] for entry in listing] == [rerun["id"], run_id]
    table = cli("pipeline", "ls")
    assert run_id in table.stdout and "flow" in table.stdout
    human = cli("pipeline", "show", run_id)
    assert "combine" in human.stdout and "succeeded" in human.stdout


def test_a_failed_step_exits_1_and_show_has_its_error(
    cli: Any, write_flow: Callable[..., Path]
) -> None:
    write_flow(**{"return max(values)": "raise RuntimeError('disk on fire')"})
    failed = cli("pipeline", "run", "flow", "--json")
    assert failed.exit_code == 1
    data = json.loads(failed.stdout)
    assert data["status"] == "failed"
    step = {s["name"]: s for s in data["steps"]}
    assert step["biggest"]["error"].startswith("RuntimeError: disk on fire")
    assert step["combine"]["status"] == "skipped"
    assert "disk on fire" in failed.stderr


def test_pipelines_file_from_mloop_toml_and_file_colon_name(
    cli: Any, workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    folder = workspace.root / "flows"
    folder.mkdir()
    (workspace.root / "pipelines.py").rename(folder / "mine.py")
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text() + '\n[pipelines]\nfile = "flows/mine.py"\n')
    assert cli("pipeline", "run", "flow").exit_code == 0
    by_file = cli("pipeline", "run", "flows/mine.py:flow", "--json")
    assert by_file.exit_code == 0
    assert {s["status"] for s in json.loads(by_file.stdout)["steps"]} == {"cached"}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_real_command_runs_a_pipeline_end_to_end(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    env = {"MLOOP_STORE_URL": workspace.settings.store_url, "MLOOP_USER": "tester"}
    first = run_mloop("pipeline", "run", "flow", cwd=workspace.root, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("pipeline_run=")
    # The cached run through the same main, reporting which heavy libraries it had to import.
    probe = (
        "import sys; from mloop.cli.app import main; code = main(sys.argv[1:]); "
        "print(sorted(m for m in HEAVY if m in sys.modules), file=sys.stderr); sys.exit(code)"
    ).replace(
        "HEAVY",
        repr(("pandas", "numpy", "pyarrow", "sklearn", "duckdb", "skops", "pydantic", "rich")),
    )
    again = subprocess.run(
        [sys.executable, "-c", probe, "pipeline", "run", "flow", "--json"],
        cwd=workspace.root,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert {s["status"] for s in json.loads(again.stdout)["steps"]} == {"cached"}
    assert again.stderr.rstrip().splitlines()[-1] == "[]"  # a cached run loads no output
