"""The cache key is honest: what a step computes from, never what anything is called."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mloop.pipelines import load_output, run_pipeline
from mloop.workspace import Workspace
from tests.pipelines.conftest import statuses

# The key is computed before the store is asked: SQLite is enough here (test_cli and
# test_running cover PostgreSQL), which keeps this file quick.
pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


ALL_CACHED = dict.fromkeys(["load", "double", "total", "biggest", "combine"], "cached")


def test_a_second_run_reuses_every_step_and_gives_the_same_output(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    first = run_pipeline(workspace, "flow")
    assert first.status == "succeeded"
    assert set(statuses(first).values()) == {"succeeded"}
    assert load_output(workspace.artifacts, first.outputs["return"]) == {
        "a": 12,
        "b": 6,
        "total": 18.0,
    }
    second = run_pipeline(workspace, "flow")
    assert statuses(second) == ALL_CACHED
    assert second.outputs == first.outputs
    reused = second.step("combine")
    assert reused.cached and reused.cached_from == first.step("combine").id
    assert reused.cache_key == first.step("combine").cache_key


def test_editing_one_step_reruns_it_and_what_depends_on_it_only(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    run_pipeline(workspace, "flow")
    write_flow(**{"return max(values)": "return max(values) + 1"})
    after = run_pipeline(workspace, "flow")
    assert statuses(after) == {
        "load": "cached",
        "double": "cached",
        "total": "cached",
        "biggest": "succeeded",
        "combine": "succeeded",
    }


def test_comments_and_blank_lines_do_not_rerun_a_step(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    run_pipeline(workspace, "flow")
    write_flow(
        **{"    return max(values)": "    # the largest value\n\n    return max(values)  # max"}
    )
    assert statuses(run_pipeline(workspace, "flow")) == ALL_CACHED


def test_editing_a_helper_or_a_constant_it_reads_reruns_the_step(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    run_pipeline(workspace, "flow")
    write_flow(**{"return x * SCALE": "return x * SCALE + 0"})
    assert statuses(run_pipeline(workspace, "flow"))["double"] == "succeeded"
    # The helper's output is the same list, so what follows it is reused (content, not ids).
    write_flow(**{"return x * SCALE": "return x * SCALE + 0", "SCALE = 2": "SCALE = 3"})
    after = run_pipeline(workspace, "flow")
    assert statuses(after) == {
        "load": "cached",
        "double": "succeeded",
        "total": "succeeded",
        "biggest": "succeeded",
        "combine": "succeeded",
    }


def test_a_helper_in_another_project_module_counts(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    (workspace.root / "shapes.py").write_text("def scale(x):\n    return x * 2\n")
    write_flow(**{"return x * SCALE": "import shapes\n    return shapes.scale(x)"})
    run_pipeline(workspace, "flow")
    (workspace.root / "shapes.py").write_text("def scale(x):\n    return x * 5\n")
    after = run_pipeline(workspace, "flow")
    assert statuses(after)["double"] == "succeeded"
    assert statuses(after)["load"] == "cached"


def test_a_changed_input_file_reruns_but_a_renamed_one_with_the_same_bytes_does_not(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    run_pipeline(workspace, "flow")
    (workspace.root / "copy.txt").write_text("1 2 3\n")
    renamed = run_pipeline(workspace, "flow", {"data": "copy.txt"})
    assert statuses(renamed) == ALL_CACHED
    (workspace.root / "nums.txt").write_text("1 2 3 4\n")
    changed = run_pipeline(workspace, "flow")
    assert set(statuses(changed).values()) == {"succeeded"}
    assign = changed.step("load").inputs["path"]
    assert assign["kind"] == "file" and assign["hash"].startswith("blake3:")


def test_a_changed_parameter_reruns_only_the_step_that_takes_it(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    run_pipeline(workspace, "flow")
    after = run_pipeline(workspace, "flow", {"offset": "0.5"})
    assert statuses(after) == {**ALL_CACHED, "combine": "succeeded"}
    assert after.params["offset"] == 0.5
    assert after.step("combine").inputs["offset"]["value"] == 0.5


def test_no_cache_reruns_everything(workspace: Workspace, write_flow: Callable[..., Path]) -> None:
    run_pipeline(workspace, "flow")
    again = run_pipeline(workspace, "flow", no_cache=True)
    assert set(statuses(again).values()) == {"succeeded"}
