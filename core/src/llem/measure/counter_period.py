"""The real update period of an energy counter, found by polling it and timing its changes."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any


class CounterStuck(RuntimeError):
    """The counter did not change often enough within the time allowed."""


def measure_period(read: Callable[[], int | float], *, changes: int = 6, timeout_s: float = 3.0) -> float:
    """Median time between successive changes of `read()`, polled as fast as the read allows.

    Each change is seen up to one read late, so a single interval is uncertain by about one read cost; the
    median of
    several intervals is not. A counter that changes on every read reports (about) the read cost itself: its
    real
    period is then no longer than that.
    """
    deadline = time.perf_counter() + timeout_s
    last = read()
    change_times: list[float] = []
    while len(change_times) < changes + 1:
        value = read()
        now = time.perf_counter()
        if value != last:
            change_times.append(now)
            last = value
        elif now > deadline:
            raise CounterStuck(
                f"the energy counter changed {len(change_times)} times in {timeout_s:g} s "
                f"(need {changes + 1})"
            )
    intervals = [b - a for a, b in itertools.pairwise(change_times)]
    return statistics.median(intervals)


def measure_read_cost(read: Callable[[], Any], *, n: int = 20) -> float:
    """Median wall time of one `read()` call (seconds)."""
    costs = []
    for _ in range(n):
        t0 = time.perf_counter()
        read()
        costs.append(time.perf_counter() - t0)
    return statistics.median(costs)


def measure_update_period(handle: Any, *, changes: int = 6, timeout_s: float = 3.0) -> float:
    """The NVML energy counter's update period for one GPU (about 0.1 s on an H100), by polling it."""
    # deferred: pynvml is a large module; only machines with a GPU get here
    import pynvml

    return measure_period(
        lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle), changes=changes, timeout_s=timeout_s
    )
