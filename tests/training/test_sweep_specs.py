"""``--sweep`` specs and the grid they make (no training: parsing and checking only)."""

from __future__ import annotations

import pytest

from mloop.cli.sweeps import parse_sweeps
from mloop.errors import InvalidInput
from mloop.training.sweep import MAX_TRIALS, expand_grid


def test_a_list_reads_each_value_as_param_does() -> None:
    axes = parse_sweeps(["C=0.1,1,inf", "class_weight=balanced,None", "hidden=(64, 32),(8,)"])
    assert axes == {
        "C": [0.1, 1, float("inf")],
        "class_weight": ["balanced", None],
        "hidden": [(64, 32), (8,)],
    }


def test_a_linear_range_of_whole_numbers_stays_whole() -> None:
    assert parse_sweeps(["n_estimators=50:200:4"]) == {"n_estimators": [50, 100, 150, 200]}
    with pytest.raises(InvalidInput, match="only 2 whole numbers"):
        parse_sweeps(["max_depth=0:1:5"])


def test_a_linear_range_of_floats_is_evenly_spaced_and_tidy() -> None:
    assert parse_sweeps(["alpha=0.0:1.0:5"]) == {"alpha": [0.0, 0.25, 0.5, 0.75, 1.0]}
    assert parse_sweeps(["alpha=0.1:0.3:3"]) == {"alpha": [0.1, 0.2, 0.3]}


def test_a_log_range_is_evenly_spaced_in_powers() -> None:
    assert parse_sweeps(["C=0.001:10:5:log"]) == {"C": [0.001, 0.01, 0.1, 1.0, 10.0]}
    assert parse_sweeps(["max_depth=1:100:3:log"]) == {"max_depth": [1, 10, 100]}
    assert parse_sweeps(["C=2:2:1"]) == {"C": [2]}


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("C=1:10:0", "n must be at least 1"),
        ("C=10:1:3", "is above hi"),
        ("C=0:1:3:log", "log scale needs lo above 0"),
        ("C=-1:1:3:log", "log scale needs lo above 0"),
        ("C=1:10:3:cubic", "can only be 'log'"),
        ("C", "does not start with a parameter name"),
        ("=1,2", "does not start with a parameter name"),
        ("C=1,,2", "has an empty value"),
        ("C=1:1:3", "lo and hi are both 1, so every trial would be the same"),
        ("C=0.5:0.5:2:log", "lo and hi are both 0.5"),
        ("C=1,2,1", "gives 1 twice, so two trials would be the same"),
        ("C=0.5,5e-1", "gives 0.5 twice"),
        ("class_weight=None,None", "gives None twice"),
    ],
)
def test_a_bad_spec_is_one_sentence_naming_it(spec: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as caught:
        parse_sweeps([spec])
    assert str(caught.value).count(". ") == 0 and "--sweep" in str(caught.value)


def test_a_parameter_swept_twice_is_refused() -> None:
    with pytest.raises(InvalidInput, match="given twice"):
        parse_sweeps(["C=1,2", "C=3"])


def test_the_grid_is_the_product_first_flag_slowest() -> None:
    grid = expand_grid({"C": [1, 10], "max_iter": [100, 200, 300]})
    assert len(grid) == 6
    assert grid[:3] == [
        {"C": 1, "max_iter": 100},
        {"C": 1, "max_iter": 200},
        {"C": 1, "max_iter": 300},
    ]
    assert grid[-1] == {"C": 10, "max_iter": 300}


def test_a_grid_too_large_is_refused_before_anything_runs() -> None:
    with pytest.raises(InvalidInput, match="trials"):
        expand_grid({"a": list(range(MAX_TRIALS)), "b": [1, 2]})
