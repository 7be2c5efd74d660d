"""Prefill energy, measured: prefill-only passes of the measured batches, repeated for a window of its own.

A counter read at each batch's first token cannot resolve prefill: the counter updates every ~100 ms and a
prefill lasts milliseconds. Instead, after the measured window, the same batches run again with one output
token (`max_new_tokens=1`: the prefill and the first token, which is what time to first token measures), back
to back until the passes span `min_window_periods` counter periods. Their energy per pass is the window's
prefill energy; the rest of the window is decode. The passes are a separate window: the measured one is not
perturbed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llem.measure.energy import at_time
from llem.plugins.types import Batch, BatchOutput, Prompt

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.measure.energy import EnergyMeter, EnergyReading

# Prefill passes at most (each pass runs every measured batch once), and the longest the passes may take.
MAX_PASSES = 10_000
_PREFILL_SEED_OFFSET = 2_000_003


@dataclass
class PrefillRecord:
    """What the prefill-only passes produced; `energy_j` and the bound are for all `passes` together."""

    passes: int = 0
    duration_s: float = 0.0
    edge_start: EnergyReading | None = None
    edge_end: EnergyReading | None = None
    input_tokens: int = 0
    cached_input_tokens: int = 0
    notes: list[str] = field(default_factory=list)


def passes_needed(prefill_s: float, period_s: float, min_window_periods: int) -> int:
    """Passes of `prefill_s` each for a window of min_window_periods counter periods (25 % margin)."""
    target = 1.25 * min_window_periods * period_s
    return max(1, min(MAX_PASSES, math.ceil(target / max(prefill_s, 1e-6))))


def one_pass_prefill_s(outputs: Sequence[BatchOutput]) -> float | None:
    """Prefill time of one pass over the batches: each batch's longest time to first token, summed."""
    total = 0.0
    for out in outputs:
        ttfts = [r.ttft_s for r in out.requests if r.ttft_s is not None]
        if not ttfts:
            return None
        total += max(ttfts)
    return total


def measure_prefill(
    meter: EnergyMeter,
    config: ExperimentBase,
    batches: list[list[Prompt]],
    first_pass: Sequence[BatchOutput],
    generate: Callable[[Batch], BatchOutput],
) -> PrefillRecord:
    """Run prefill-only passes of `batches` between two counter edges; `first_pass` gives their length."""
    rec = PrefillRecord()
    prefill_s = one_pass_prefill_s(first_pass)
    if prefill_s is None or not meter.update_period_s:
        rec.notes.append(
            "prefill energy not measured: "
            + (
                "the backend reported no time to first token"
                if prefill_s is None
                else "counter period unknown"
            )
        )
        return rec
    passes = passes_needed(prefill_s, meter.update_period_s, config.measurement.min_window_periods)
    edge = meter.read_edge()
    t0 = time.perf_counter()
    rec.edge_start = at_time(edge, t0)
    for p in range(passes):
        for k, prompts in enumerate(batches):
            out = generate(
                Batch(
                    prompts=prompts,
                    max_new_tokens=1,
                    fixed_output_length=True,
                    index=k,
                    phase="prefill",
                    seed=config.random_seed + _PREFILL_SEED_OFFSET + k,
                )
            )
            if p == 0:
                rec.input_tokens += sum(r.input_tokens for r in out.requests)
                rec.cached_input_tokens += sum(r.cached_input_tokens or 0 for r in out.requests)
    t1 = time.perf_counter()
    rec.edge_end = meter.window_end(rec.edge_start, t1)
    rec.passes = passes
    rec.duration_s = t1 - t0
    return rec
