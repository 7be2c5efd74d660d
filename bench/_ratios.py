"""Paired ratios for the side-by-side benches: median with a bootstrap 95 % confidence interval."""

from __future__ import annotations

import random
import statistics


def bootstrap_median_ci(values: list[float], n: int = 5000, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap confidence interval of the median of `values`."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]


def paired(numerators: list[float], denominators: list[float]) -> tuple[float, float, float]:
    """The median of the paired ratios numerators[i] / denominators[i], and its 95 % CI (low, high)."""
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
    lo, hi = bootstrap_median_ci(ratios)
    return statistics.median(ratios), lo, hi
