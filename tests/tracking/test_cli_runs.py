"""`mloop runs ls|show|compare` against a real workspace, for people and with --json."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from mloop.tracking.fluent import start_run
from mloop.workspace import Workspace

from .conftest import StoredVersion


@pytest.fixture
def two_runs(workspace: Workspace, dataset_version: StoredVersion) -> list[str]:
    """Two runs of 'churn' that share some values and differ in others (0.1 vs "0.1")."""
    ids = []
    for lr, auc in ((0.1, 0.81), ("0.1", 0.84)):
        with start_run("churn", name=f"lr={lr!r}", workspace=workspace) as run:
            run.log_params({"lr": lr, "depth": 3})
            for step, loss in enumerate((0.9, 0.5, 0.3)):
                run.log_metric("loss", loss, step=step)
            run.log_metric("auc", auc)
            run.log_metric("grad_norm", math.nan)
            run.set_tag("team", "risk")
            run.log_input(dataset_version)
        ids.append(run.id)
    return ids


def _shared_prefix(ids: list[str]) -> str:
    first, *others = ids
    size = 0
    while size < len(first) and all(o[: size + 1] == first[: size + 1] for o in others):
        size += 1
    return first[:size]


def _one_sentence(text: str) -> str:
    line = text.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in line
    return line


def test_runs_ls_lists_runs_newest_first(cli: Any, two_runs: list[str]) -> None:
    result = cli("runs", "ls")
    assert result.exit_code == 0, result.stderr
    assert all(run_id in result.stdout for run_id in two_runs)
    assert "auc=0.84" in result.stdout and "FINISHED" in result.stdout
    listed = json.loads(cli("runs", "ls", "--json", "--experiment", "churn").stdout)
    assert [r["id"] for r in listed] == two_runs[::-1]
    assert listed[0]["metrics"] == {"auc": 0.84, "grad_norm": None, "loss": 0.3}
    assert json.loads(cli("runs", "ls", "--json", "--status", "failed").stdout) == []


def test_runs_ls_of_an_unknown_experiment_exits_2(cli: Any, two_runs: list[str]) -> None:
    result = cli("runs", "ls", "--experiment", "churm")
    assert result.exit_code == 2
    assert "No experiment 'churm'" in _one_sentence(result.stderr)


def test_runs_show_takes_a_prefix_and_prints_everything(cli: Any, two_runs: list[str]) -> None:
    run_id = two_runs[1]
    unique_prefix = run_id[: len(_shared_prefix(two_runs)) + 1]
    result = cli("runs", "show", unique_prefix)
    assert result.exit_code == 0, result.stderr
    for expected in (run_id, "FINISHED", '"0.1"', "churn@1", "blake3:", "team", "risk", "python"):
        assert expected in result.stdout
    shown = json.loads(cli("runs", "show", run_id, "--json").stdout)
    assert shown["params"] == {"depth": 3, "lr": "0.1"}
    assert shown["metrics"] == {"auc": 0.84, "grad_norm": None, "loss": 0.3}
    assert shown["inputs"][0]["dataset_ref"] == "churn@1"
    assert shown["info"]["environment"]["python"]


def test_runs_compare_puts_params_and_metrics_side_by_side(cli: Any, two_runs: list[str]) -> None:
    result = cli("runs", "compare", *two_runs)
    assert result.exit_code == 0, result.stderr
    assert "lr *" in result.stdout and "auc *" in result.stdout  # differing rows are starred
    assert "depth *" not in result.stdout and "loss *" not in result.stdout
    assert "2 of 5 rows differ" in result.stdout
    only = cli("runs", "compare", *two_runs, "--diff").stdout
    assert "depth" not in only and "lr *" in only
    rows = {
        r["key"]: r for r in json.loads(cli("runs", "compare", *two_runs, "--json").stdout)["rows"]
    }
    assert rows["lr"] == {"kind": "param", "key": "lr", "values": [0.1, "0.1"], "differs": True}
    assert rows["depth"]["differs"] is False
    assert rows["grad_norm"] == {
        "kind": "metric",
        "key": "grad_norm",
        "values": [None, None],
        "differs": False,
    }


def test_an_unknown_run_exits_2_with_one_sentence(cli: Any, two_runs: list[str]) -> None:
    for args in (("show", "zzzz"), ("compare", two_runs[0], "zzzz")):
        result = cli("runs", *args)
        assert result.exit_code == 2
        assert _one_sentence(result.stderr) == "error: No run 'zzzz'; `mloop runs ls` lists them."


def test_an_ambiguous_prefix_exits_2_and_asks_for_more(cli: Any, two_runs: list[str]) -> None:
    prefix = _shared_prefix(two_runs)
    assert prefix  # ids start with their creation time
    result = cli("runs", "show", prefix)
    assert result.exit_code == 2
    assert "matches several runs" in _one_sentence(result.stderr)
    assert "give more characters" in result.stderr


def test_compare_needs_two_different_runs(cli: Any, two_runs: list[str]) -> None:
    result = cli("runs", "compare", two_runs[0], two_runs[0])
    assert result.exit_code == 2
    assert "at least two different runs" in _one_sentence(result.stderr)


def test_names_with_brackets_print_as_written(cli: Any, workspace: Workspace) -> None:
    """Rich markup in a user's names is text, neither styled nor shown with escape backslashes."""
    with start_run("exp[red]x", workspace=workspace) as run:
        run.log_param("grid[bold]", "[1, 2]")
        run.set_tag("note", "[dim]kept[/dim]")
    listing = cli("runs", "ls").stdout
    shown = cli("runs", "show", run.id).stdout
    assert "exp[red]x" in listing and "\\[" not in listing
    assert "grid[bold]" in shown and "[dim]kept[/dim]" in shown and "\\[" not in shown


def test_runs_show_metric_prints_the_series(cli: Any, workspace: Workspace) -> None:
    with start_run("curves", workspace=workspace) as run:
        for step in range(100):
            run.log_metric("loss", 1 / (step + 1), step=step)
    shown = cli("runs", "show", run.id, "--metric", "loss")
    assert shown.exit_code == 0, shown.stderr
    assert "100 points" in shown.stdout and "60 more" in shown.stdout
    assert "first 1  last 0.01  min 0.01  max 1" in shown.stdout
    series = json.loads(cli("runs", "show", run.id, "-m", "loss", "--json").stdout)
    assert [p["step"] for p in series] == list(range(100))
    assert series[-1]["value"] == pytest.approx(0.01)
    missing = cli("runs", "show", run.id, "-m", "acc")
    assert missing.exit_code == 2
    assert "has no metric 'acc'; it logged: loss" in _one_sentence(missing.stderr)


def test_runs_ls_refuses_an_unknown_status_and_says_when_filters_match_nothing(
    cli: Any, two_runs: list[str]
) -> None:
    bogus = cli("runs", "ls", "--status", "done")
    assert bogus.exit_code == 2  # was exit 0 and "No runs yet"
    assert "'done' is not one of RUNNING, FINISHED, FAILED, KILLED" in _one_sentence(bogus.stderr)
    empty = cli("runs", "ls", "--status", "killed", "--experiment", "churn")
    assert empty.exit_code == 0 and "No runs match these filters" in empty.stdout


def test_runs_compare_names_each_run(cli: Any, two_runs: list[str]) -> None:
    result = cli("runs", "compare", *two_runs)
    assert "lr=0.1" in result.stdout and "lr='0.1'" in result.stdout
    shown = json.loads(cli("runs", "compare", *two_runs, "--json").stdout)
    assert shown["names"] == ["lr=0.1", "lr='0.1'"]
