"""Arrival times of open-loop load (pure and seeded: the same seed gives the same schedule)."""

from __future__ import annotations

import random
from collections.abc import Iterator


def gaps(arrival: str, rate: float, seed: int, burstiness: float | None = None) -> Iterator[float]:
    """Endless inter-arrival gaps (seconds) with mean 1/rate.

    poisson: exponential; gamma: gamma with shape `burstiness` (1 is Poisson, below 1 burstier); constant:
    exactly 1/rate.
    """
    if rate <= 0:
        raise ValueError("rate must be > 0")
    rng = random.Random(seed)
    if arrival == "constant":
        while True:
            yield 1.0 / rate
    elif arrival == "poisson":
        while True:
            yield rng.expovariate(rate)
    elif arrival == "gamma":
        shape = burstiness if burstiness is not None else 1.0
        while True:
            yield rng.gammavariate(shape, 1.0 / (rate * shape))
    else:
        raise ValueError(f"no arrival times for {arrival!r}")


def arrival_times(arrival: str, rate: float, seed: int, burstiness: float | None = None) -> Iterator[float]:
    """Endless arrival times from 0 (the first request at its first gap, not at 0: a process in progress)."""
    t = 0.0
    for gap in gaps(arrival, rate, seed, burstiness):
        t += gap
        yield t
