"""Warm-up before the measured window: a fixed number of batches, or until batch latency converges."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llem.results.stats import coefficient_of_variation

if TYPE_CHECKING:
    from llem.config.measurement import MeasurementConfig


@dataclass(frozen=True)
class WarmupOutcome:
    batches: int
    duration_s: float
    latencies_s: list[float]
    converged: bool | None  # None for fixed warm-up
    cv: float | None


def convergence_window(mc: MeasurementConfig) -> int:
    """How many recent batch latencies the CV is computed over (at least 2: one value has no spread)."""
    return max(mc.warmup_batches, 2)


def run_warmup(run_batch: Callable[[int], float], mc: MeasurementConfig) -> WarmupOutcome:
    """Run warm-up batches; `run_batch(k)` runs warm-up batch k and returns its latency in seconds."""
    t0 = time.perf_counter()
    latencies: list[float] = []
    if mc.warmup == "fixed":
        for k in range(mc.warmup_batches):
            latencies.append(run_batch(k))
        return WarmupOutcome(len(latencies), time.perf_counter() - t0, latencies, None, None)
    window = convergence_window(mc)
    cv = math.inf
    for k in range(max(mc.max_warmup_batches, window)):
        latencies.append(run_batch(k))
        if len(latencies) >= window:
            cv = coefficient_of_variation(latencies[-window:])
            if cv < mc.warmup_cv:
                return WarmupOutcome(len(latencies), time.perf_counter() - t0, latencies, True, cv)
    return WarmupOutcome(
        len(latencies), time.perf_counter() - t0, latencies, False, cv if math.isfinite(cv) else None
    )
