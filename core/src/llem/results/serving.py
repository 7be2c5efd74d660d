"""Serving metrics of a measured window: what was sent, finished and good in it, and what each cost.

Pure functions over the requests a serving backend reported, so each definition is tested on hand-made
timelines. All times are seconds on one axis (from the start of the backend's generate call). The window is
[start, end): counts, token rates and energy per request all refer to what happened inside it, so they share
the window's energy as numerator; latency percentiles are of the requests *sent* inside it (each is timed to
its end, which may fall in the cool-down).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from llem.plugins.types import RequestOutput
from llem.results.schema import LatencyStats, ServingMetrics
from llem.results.stats import latency_stats


@dataclass(frozen=True)
class ServingWindow:
    """What a serving window yields before energy is known: metrics, latencies, token counts, notes."""

    serving: ServingMetrics
    ttft_s: LatencyStats
    itl_s: LatencyStats
    e2e_s: LatencyStats
    input_tokens: int
    output_tokens: int
    notes: list[str] = field(default_factory=list)


def token_times(r: RequestOutput) -> list[float]:
    """When each output token of `r` arrived (empty without an arrival or first-token time).

    Arrivals come from `itl_s` (observed gaps) with `itl_tokens` tokens each (one when None); the first
    arrival carries the tokens the gaps do not. Without gaps the tokens are spread evenly between the first
    token and the end.
    """
    if r.arrival_s is None or r.ttft_s is None or r.output_tokens < 1:
        return []
    first = r.arrival_s + r.ttft_s
    if r.itl_s:
        counts = r.itl_tokens if r.itl_tokens is not None else [1] * len(r.itl_s)
        times = [first] * max(r.output_tokens - sum(counts), 1)
        t = first
        for gap, k in zip(r.itl_s, counts, strict=True):
            t += gap
            times += [t] * k
        return times[: r.output_tokens]
    if r.output_tokens > 1 and r.e2e_s is not None:
        step = (r.e2e_s - r.ttft_s) / (r.output_tokens - 1)
        return [first + step * k for k in range(r.output_tokens)]
    return [first] * r.output_tokens


def tpot_s(r: RequestOutput) -> float | None:
    """Time per output token after the first: (e2e − ttft) / (tokens − 1); None for fewer than two tokens."""
    if r.ttft_s is None or r.e2e_s is None or r.output_tokens < 2:
        return None
    return (r.e2e_s - r.ttft_s) / (r.output_tokens - 1)


def meets_slo(r: RequestOutput, slo_ms: Mapping[str, float]) -> bool:
    """Whether a successful request meets every objective in `slo_ms` (keys ttft_ms, tpot_ms, e2e_ms)."""
    if r.error is not None:
        return False
    checks = {"ttft_ms": r.ttft_s, "tpot_ms": tpot_s(r), "e2e_ms": r.e2e_s}
    for key, limit in slo_ms.items():
        value = checks[key]
        if value is None:
            if key == "tpot_ms":  # a one-token answer has no time per output token to miss
                continue
            return False
        if value * 1000.0 > limit:
            return False
    return True


def serving_window(
    requests: Sequence[RequestOutput],
    start_s: float,
    end_s: float,
    *,
    arrival: str,
    offered_rate_per_s: float | None,
    max_concurrency: int | None,
    slo_ms: Mapping[str, float],
    fixed_output_tokens: int | None,
) -> ServingWindow:
    """Counts, rates and latencies of the window [start_s, end_s).

    fixed_output_tokens: the length every request was asked for exactly (None: lengths were not fixed).
    """
    window_s = end_s - start_s
    notes: list[str] = []

    def inside(t: float | None) -> bool:
        return t is not None and start_s <= t < end_s

    sent = [r for r in requests if inside(r.arrival_s)]
    ok_sent = [r for r in sent if r.error is None]
    failed = [r for r in sent if r.error is not None]
    completed = [
        r
        for r in requests
        if r.error is None
        and r.arrival_s is not None
        and r.e2e_s is not None
        and inside(r.arrival_s + r.e2e_s)
    ]
    good = [r for r in completed if meets_slo(r, slo_ms)]
    output_tokens = sum(1 for r in requests for t in token_times(r) if inside(t))
    input_tokens = sum(r.input_tokens for r in completed)
    if failed:
        reasons = sorted({r.error for r in failed if r.error})
        notes.append(
            f"{len(failed)} of {len(sent)} requests sent in the window failed: {'; '.join(reasons[:3])}"
            + (f" (and {len(reasons) - 3} other reasons)" if len(reasons) > 3 else "")
        )
    output_length: Literal["fixed", "counted"] | None = None
    if fixed_output_tokens is not None and completed:
        short = [r for r in completed if r.output_tokens != fixed_output_tokens]
        output_length = "counted" if short else "fixed"
        if short:
            notes.append(
                f"output length not fixed: {len(short)} of {len(completed)} completed requests returned "
                f"other than {fixed_output_tokens} tokens; lengths were counted from the server's reports"
            )
    elif completed:
        output_length = "counted"
    itl = [g for r in ok_sent for g in (r.itl_s or [])]
    chunked = sum(1 for r in ok_sent for k in (r.itl_tokens or []) if k > 1)
    if chunked:
        notes.append(
            f"itl_s: {chunked} of {len(itl)} gaps delivered several tokens at once (streamed chunks); ITL "
            "percentiles are of the observed gaps between arrivals, not per token"
        )
    serving = ServingMetrics(
        arrival=arrival,
        offered_rate_per_s=offered_rate_per_s,
        achieved_rate_per_s=len(sent) / window_s if window_s > 0 else None,
        max_concurrency=max_concurrency,
        n_sent=len(sent),
        n_completed=len(completed),
        n_failed=len(failed),
        n_good=len(good),
        goodput_requests_per_s=len(good) / window_s if window_s > 0 else None,
        slo=dict(slo_ms),
        tpot_s=latency_stats([v for r in ok_sent if (v := tpot_s(r)) is not None]),
        output_length=output_length,
    )
    if offered_rate_per_s and serving.achieved_rate_per_s is not None:
        shortfall = 1 - serving.achieved_rate_per_s / offered_rate_per_s
        if shortfall > 0.2 and len(sent) >= 10:
            notes.append(
                f"achieved rate {serving.achieved_rate_per_s:.3g}/s is {shortfall:.0%} below the offered "
                f"{offered_rate_per_s:.3g}/s (max_concurrency reached, or a slow client)"
            )
    return ServingWindow(
        serving=serving,
        ttft_s=latency_stats([r.ttft_s for r in ok_sent if r.ttft_s is not None]),
        itl_s=latency_stats(itl),
        e2e_s=latency_stats([r.e2e_s for r in ok_sent if r.e2e_s is not None]),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        notes=notes,
    )


def per_request_energy(
    serving: ServingMetrics, energy_j: float | None, dynamic_j: float | None
) -> tuple[float | None, float | None, float | None]:
    """(J per completed request, J per good request, dynamic J per completed request); None: undefined."""
    if energy_j is None:
        return None, None, None
    per_req = energy_j / serving.n_completed if serving.n_completed else None
    per_good = energy_j / serving.n_good if serving.n_good else None
    dyn = dynamic_j / serving.n_completed if dynamic_j is not None and serving.n_completed else None
    return per_req, per_good, dyn
