"""Timing and memory helpers shared by the benchmarks (not part of the package)."""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Timing:
    seconds: float
    peak_mib: float
    result: Any


def measure(fn: Callable[[], Any], *, repeat: int = 1, trace_memory: bool = False) -> Timing:
    """Median wall time over ``repeat`` calls; peak traced Python memory of the last call."""
    times = []
    peak = 0.0
    result: Any = None
    for _ in range(repeat):
        if trace_memory:
            tracemalloc.start()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if trace_memory:
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    return Timing(statistics.median(times), peak, result)
