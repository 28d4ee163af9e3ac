"""``@mloop.step`` and ``@mloop.pipeline``: plain functions that build a graph when traced.

A pipeline's body runs once, in the parent process, with a trace active: each step call records a
node and returns an ``Output`` handle instead of running. The runner then executes the graph (see
``mloop.pipelines.runner``). Outside a trace a step is just its function, so a step stays
unit-testable with plain values: ``features(frame)`` returns features.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from mloop.errors import InvalidInput, MloopError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(eq=False)
class Node:
    """One step call in a traced pipeline: its function and its bound arguments."""

    name: str
    position: int
    step: Step[..., Any]
    arguments: dict[str, Any]

    @property
    def upstream(self) -> list[Node]:
        seen: dict[int, Node] = {}
        for value in self.arguments.values():
            if isinstance(value, Output):
                seen.setdefault(id(value.node), value.node)
        return list(seen.values())


@dataclass(frozen=True, eq=False)
class Output:
    """What a step call returns inside a pipeline: a promise of that step's result."""

    node: Node

    def __repr__(self) -> str:
        return f"<output of step {self.node.name!r}>"

    def __bool__(self) -> bool:
        raise InvalidInput(
            f"A pipeline body tested the output of step {self.node.name!r} (if/while/and/or), but "
            "outputs exist only once the pipeline runs; move the decision into a step."
        )

    def __iter__(self) -> Iterator[Any]:
        raise InvalidInput(
            f"A pipeline body unpacked or looped over the output of step {self.node.name!r}, but "
            "outputs exist only once the pipeline runs; return one value and pass it whole."
        )


@dataclass
class Trace:
    nodes: list[Node] = field(default_factory=list)

    def add(self, step: Step[..., Any], arguments: dict[str, Any]) -> Output:
        base = step.name
        taken = {node.name for node in self.nodes}
        name, count = base, 1
        while name in taken:
            count += 1
            name = f"{base}_{count}"
        node = Node(name=name, position=len(self.nodes), step=step, arguments=arguments)
        self.nodes.append(node)
        return Output(node)


_TRACE: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("mloop_trace", default=None)


@contextmanager
def tracing() -> Iterator[Trace]:
    trace = Trace()
    token = _TRACE.set(trace)
    try:
        yield trace
    finally:
        _TRACE.reset(token)


def _nested_output(value: Any) -> bool:
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(isinstance(item, Output) or _nested_output(item) for item in value)
    if isinstance(value, dict):
        return any(isinstance(item, Output) or _nested_output(item) for item in value.values())
    return False


class Step(Generic[P, R]):
    """A function marked ``@mloop.step``: cached by its code, inputs and parameters."""

    def __init__(self, fn: Callable[P, R]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        trace = _TRACE.get()
        if trace is None:
            return self.fn(*args, **kwargs)
        if "<locals>" in self.fn.__qualname__:
            raise InvalidInput(
                f"Step {self.name!r} is defined inside a function; define steps at the top level "
                "of a module, where the processes that run them can import them."
            )
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(
                f"Step {self.name!r} was called with the wrong arguments ({exc})."
            ) from None
        bound.apply_defaults()
        for key, value in bound.arguments.items():
            if not _nested_output(value):
                continue
            kind = self.signature.parameters[key].kind
            if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                stars = "*" if kind is inspect.Parameter.VAR_POSITIONAL else "**"
                raise InvalidInput(
                    f"Step {self.name!r} was given a step output through {stars}{key}; give "
                    f"{self.name} a parameter of its own for each output (def {self.name}(a, b))."
                )
            raise InvalidInput(
                f"Step {self.name!r} got a step output inside a container ({key}=…); "
                "pass each step's output as an argument of its own."
            )
        return trace.add(self, dict(bound.arguments))  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<mloop step {self.name}>"


class Pipeline(Generic[P, R]):
    """A function marked ``@mloop.pipeline``; its body calls steps. Named after the function."""

    def __init__(self, fn: Callable[P, R]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def trace(self, params: dict[str, Any]) -> tuple[list[Node], Node | None]:
        """The graph the body builds with ``params``, and the node whose output it returned."""
        with tracing() as trace:
            try:
                returned = self.fn(**params)  # type: ignore[call-arg]
            except MloopError:
                raise
            except Exception as exc:
                raise InvalidInput(
                    f"The body of pipeline {self.name!r} raised {type(exc).__name__}: {exc}; "
                    "a pipeline body only calls steps and passes their outputs on (the work "
                    "goes in the steps)."
                ) from exc
        if _nested_output(returned):
            raise InvalidInput(
                f"Pipeline {self.name!r} returned step outputs inside a "
                f"{type(returned).__name__}; return one step's output (a step can combine them)."
            )
        if returned is not None and not isinstance(returned, Output):
            raise InvalidInput(
                f"Pipeline {self.name!r} returned {returned!r}, which is not a step's output; "
                "return a step's output, or nothing (its last step's output is then the result)."
            )
        final = returned.node if isinstance(returned, Output) else None
        if final is None and trace.nodes:
            final = trace.nodes[-1]
        return trace.nodes, final

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<mloop pipeline {self.name}>"


@overload
def step(fn: Callable[P, R]) -> Step[P, R]: ...
@overload
def step(fn: None = None) -> Callable[[Callable[P, R]], Step[P, R]]: ...
def step(fn: Callable[P, R] | None = None) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Mark a function as a pipeline step (``@mloop.step`` or ``@mloop.step()``)."""
    if fn is None:
        return Step
    return Step(fn)


def pipeline(fn: Callable[P, R]) -> Pipeline[P, R]:
    """Mark a function as a pipeline: its parameters are ``--param``s, its body calls steps."""
    return Pipeline(fn)
