"""Summary statistics of latencies: mean and linearly interpolated percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence

from llem.results.schema import LatencyStats


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolated linearly between order statistics (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def latency_stats(values: Sequence[float]) -> LatencyStats:
    """mean, p50, p90, p99 of `values`; all None when there are none."""
    if not values:
        return LatencyStats()
    return LatencyStats(
        n=len(values),
        mean=math.fsum(values) / len(values),
        p50=percentile(values, 50),
        p90=percentile(values, 90),
        p99=percentile(values, 99),
    )


def coefficient_of_variation(values: Sequence[float]) -> float:
    """Sample standard deviation ÷ mean (inf for a zero mean or fewer than two values)."""
    n = len(values)
    if n < 2:
        return math.inf
    mean = math.fsum(values) / n
    if mean == 0:
        return math.inf
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return math.sqrt(var) / mean
