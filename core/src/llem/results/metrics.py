"""Metric arithmetic from a measured window: throughput, latency distributions, per-token and dynamic energy.

Pure functions over plain numbers, so each formula is tested on hand-computed values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llem.plugins.types import BatchOutput
from llem.results.schema import LatencyStats
from llem.results.stats import latency_stats


@dataclass(frozen=True)
class Latencies:
    ttft_s: LatencyStats
    itl_s: LatencyStats
    e2e_s: LatencyStats
    notes: list[str]


def latencies(outputs: Sequence[BatchOutput], batch_durations_s: Sequence[float]) -> Latencies:
    """TTFT, ITL and end-to-end latency over all requests of the window.

    ITL pools every inter-token gap of every request when the backend reports them; otherwise each request
    contributes its mean gap (e2e − ttft) / (output_tokens − 1), and a note says so. A request without an
    e2e time gets its batch's duration (every request of a static batch ends with the batch).
    """
    ttft: list[float] = []
    itl: list[float] = []
    e2e: list[float] = []
    derived_itl = fallback_e2e = chunked = 0
    largest_chunk = 1
    for out, duration in zip(outputs, batch_durations_s, strict=True):
        for r in out.requests:
            if r.ttft_s is not None:
                ttft.append(r.ttft_s)
            end = r.e2e_s
            if end is None:
                end = duration
                fallback_e2e += 1
            e2e.append(end)
            if r.itl_s:
                itl.extend(r.itl_s)
                if r.itl_tokens and max(r.itl_tokens) > 1:
                    chunked += sum(1 for k in r.itl_tokens if k > 1)
                    largest_chunk = max(largest_chunk, *r.itl_tokens)
            elif r.ttft_s is not None and r.output_tokens > 1:
                itl.append((end - r.ttft_s) / (r.output_tokens - 1))
                derived_itl += 1
    notes = []
    if derived_itl:
        notes.append(
            f"itl_s: {derived_itl} requests gave no per-token times; their mean gap (e2e − ttft) / "
            "(output_tokens − 1) was used, so ITL percentiles are of per-request means"
        )
    if chunked:
        notes.append(
            f"itl_s: {chunked} of {len(itl)} gaps delivered several tokens at once (up to {largest_chunk}); "
            "ITL percentiles are of the observed gaps between arrivals, not per token"
        )
    if fallback_e2e:
        notes.append(f"e2e_s: {fallback_e2e} requests gave no end time; their batch's duration was used")
    return Latencies(latency_stats(ttft), latency_stats(itl), latency_stats(e2e), notes)


def rate(count: float, seconds: float | None) -> float | None:
    """count / seconds, or None for an empty or zero-length window."""
    if not seconds or seconds <= 0:
        return None
    return count / seconds


def dynamic_energy_j(total_j: float, idle_power_w: float | None, energy_window_s: float) -> float | None:
    """Energy the work added above idle: total − idle power × the energy window (None without a baseline)."""
    if idle_power_w is None:
        return None
    return total_j - idle_power_w * energy_window_s


@dataclass(frozen=True)
class PerToken:
    energy_per_output_token_j: float | None
    energy_per_token_j: float | None
    dynamic_energy_per_output_token_j: float | None
    note: str | None


def per_token_energy(
    total_j: float | None,
    dynamic_j: float | None,
    input_tokens: int,
    output_tokens: int,
    *,
    withheld_reason: str | None = None,
) -> PerToken:
    """Energy per output token and per token (input + output); all None, with the reason, when withheld."""
    if total_j is None:
        return PerToken(None, None, None, None)
    if withheld_reason is not None:
        return PerToken(None, None, None, withheld_reason)
    per_out = total_j / output_tokens if output_tokens > 0 else None
    per_tok = total_j / (input_tokens + output_tokens) if input_tokens + output_tokens > 0 else None
    dyn_out = dynamic_j / output_tokens if dynamic_j is not None and output_tokens > 0 else None
    return PerToken(per_out, per_tok, dyn_out, None)


def short_window_reason(
    window_s: float, period_s: float | None, min_periods: int, total_j: float, bound_j: float | None
) -> str | None:
    """Why per-token energy is withheld for a window under `min_periods` counter periods (None if not)."""
    if period_s is None or window_s >= min_periods * period_s:
        return None
    bound = f"{bound_j:.2g} J" if bound_j is not None else "an unknown bound"
    return (
        f"energy per token withheld: the window ({window_s:.3f} s) is shorter than {min_periods} "
        f"energy-counter "
        f"periods ({period_s * 1000:.0f} ms each, {min_periods * period_s:.2f} s), so its energy "
        f"({total_j:.3g} J ± {bound}) is too uncertain to divide per token; measure more prompts or longer "
        "outputs, or pass --allow-short-window (measurement.allow_short_window) to report it anyway"
    )
