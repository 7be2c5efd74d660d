"""The Pareto front of configurations trading throughput against energy (or latency) per unit of work."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats: higher-or-equal x (throughput) and lower-or-equal y (cost),
    with at least one strictly better. Returned in order of increasing x; ties keep the first index."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    order = sorted(range(len(xs)), key=lambda i: (-xs[i], ys[i], i))
    front: list[int] = []
    best_y = float("inf")
    for i in order:
        if ys[i] < best_y:
            front.append(i)
            best_y = ys[i]
    return sorted(front, key=lambda i: (xs[i], i))
