"""Tracing, without a store or a process: what a pipeline body may and may not do."""

from __future__ import annotations

import pytest

import mloop
from mloop.errors import InvalidInput


@mloop.step
def add(x: int, y: int = 1) -> int:
    return x + y


@mloop.step
def halve(x: int) -> float:
    return x / 2


@mloop.step
def total(*values: int, **named: int) -> int:
    return sum(values) + sum(named.values())


def test_a_step_called_outside_a_pipeline_is_its_function() -> None:
    assert add(2) == 3
    assert halve(add(3, y=5)) == 4.0


def test_tracing_records_each_call_with_its_upstream_and_a_unique_name() -> None:
    @mloop.pipeline
    def twice(start: int = 0):
        first = add(start)
        return halve(add(first, y=2))

    nodes, final = twice.trace({"start": 4})
    assert [n.name for n in nodes] == ["add", "add_2", "halve"]
    assert nodes[1].upstream == [nodes[0]] and nodes[2].upstream == [nodes[1]]
    assert nodes[0].arguments == {"x": 4, "y": 1}  # defaults are bound: they are parameters
    assert final is nodes[2]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (lambda: add(1) if add(2) else None, "move the decision into a step"),
        (lambda: [add(v) for v in add(2)], "return one value and pass it whole"),
        (lambda: add([add(1)]), "inside a container"),
        (lambda: total(add(1), add(2)), r"through \*values; give total a parameter of its own"),
        (lambda: total(a=add(1)), r"through \*\*named; give total a parameter of its own"),
        (lambda: add(1, 2, 3), "wrong arguments"),
        (lambda: 1 / 0, "raised ZeroDivisionError"),
        (lambda: (add(1), add(2)), "returned step outputs inside a tuple"),
        (lambda: {"x": add(1)}, "returned step outputs inside a dict"),
        (lambda: [add(1), 5][1], "returned 5, which is not a step's output"),
    ],
)
def test_what_a_body_cannot_do_is_refused_with_a_sentence(body: object, says: str) -> None:
    flow = mloop.pipeline(body)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=says):
        flow.trace({})


def test_a_step_defined_inside_a_function_is_refused_when_traced() -> None:
    @mloop.step
    def local(x: int) -> int:
        return x

    assert local(3) == 3  # still a plain function outside a pipeline
    flow = mloop.pipeline(lambda: local(1))
    with pytest.raises(InvalidInput, match="top level of a module"):
        flow.trace({})
