"""Where independent work runs: a local process pool by default, Ray to scale out.

Pipelines and sweeps hand their independent pieces to an ``Executor`` and wait on the futures it
returns, so the same code runs on one laptop or a Ray cluster. The choice is made once at the edge
(``MLOOP_EXECUTOR``, ``MLOOP_RAY_ADDRESS``, else ``[executor]`` in mloop.toml) and passed down::

    [executor]
    kind = "local"          # or "ray"
    max_workers = 2         # local: processes (default: the machine's cores)
    ray_address = "auto"    # ray: a running cluster; unset starts a private local Ray on loopback
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from mloop.errors import InvalidInput

T = TypeVar("T")
Kind = Literal["local", "ray"]
KINDS: tuple[Kind, ...] = ("local", "ray")


class Executor(Protocol):
    """Runs picklable callables elsewhere and hands back standard futures."""

    @property
    def kind(self) -> Kind: ...

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]: ...

    @property
    def parallelism(self) -> int:
        """How many submitted calls can run at once (cores of the pool or the cluster)."""
        ...

    def warm(self, modules: Sequence[str]) -> None:
        """Start the workers importing ``modules`` now, without waiting, so the caller's own
        work overlaps the start-up its first calls would otherwise pay."""
        ...

    def stop(self) -> None:
        """Cancel the calls not started and end the running ones now, for a command told to
        stop (Ctrl-C, SIGTERM): a trial of many minutes must not hold up ``kill``."""
        ...


@dataclass(frozen=True)
class ExecutorSettings:
    kind: Kind = "local"
    max_workers: int | None = None
    ray_address: str | None = None


def executor_settings(
    raw: Mapping[str, Any], environ: Mapping[str, str] = os.environ
) -> ExecutorSettings:
    """``[executor]`` from mloop.toml with ``MLOOP_EXECUTOR``/``MLOOP_RAY_ADDRESS`` over it."""
    table = raw.get("executor", {})
    if not isinstance(table, Mapping):
        raise InvalidInput('[executor] in mloop.toml must be a table (kind = "local" or "ray").')
    unknown = sorted(set(table) - {"kind", "max_workers", "ray_address"})
    if unknown:
        raise InvalidInput(
            f"[executor] in mloop.toml has unknown key {unknown[0]!r}; "
            "the keys are kind, max_workers and ray_address."
        )
    kind = environ.get("MLOOP_EXECUTOR") or table.get("kind", "local")
    if kind not in KINDS:
        raise InvalidInput(
            f"Executor {kind!r} is not known; set MLOOP_EXECUTOR (or [executor] kind) "
            "to 'local' or 'ray'."
        )
    workers = table.get("max_workers")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise InvalidInput(
            f"[executor] max_workers must be a whole number of at least 1, not {workers!r}."
        )
    address = environ.get("MLOOP_RAY_ADDRESS") or table.get("ray_address")
    if address is not None and not isinstance(address, str):
        raise InvalidInput(f"[executor] ray_address must be a string, not {address!r}.")
    return ExecutorSettings(kind=kind, max_workers=workers, ray_address=address or None)


@contextmanager
def open_executor(
    settings: ExecutorSettings | None = None,
    preload: Sequence[str] = (),
) -> Iterator[Executor]:
    """The executor ``settings`` name, shut down (a Ray mloop started, stopped) on exit. The
    workers start importing ``preload`` at once (``Executor.warm``); a private Ray's, as they
    start."""
    settings = settings or ExecutorSettings()
    if settings.kind == "ray":
        from mloop.executors.ray import open_ray_executor

        with open_ray_executor(settings, preload) as ray_executor:
            if preload and not ray_executor.owns_cluster:  # a cluster's workers are its own
                ray_executor.warm(preload)
            yield ray_executor
        return
    from mloop.executors.local import open_local_executor

    with open_local_executor(settings) as executor:
        if preload:
            executor.warm(preload)
        yield executor
