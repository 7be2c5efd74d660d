"""Per-request latency from token arrival times: TTFT, observed gaps and end to end, one rule for all.

A backend records when tokens of each request became visible (seconds from the start of its `generate`
call) and how many arrived at once; this turns that into a RequestOutput's times. An arrival that carries
several tokens (streamed chunks, speculative decoding) is one observed gap, with its size in `itl_tokens`:
nothing was seen between those tokens, so no per-token time is invented (and never a zero gap).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import msgspec

from llem.plugins.types import RequestOutput


class RequestTimes(msgspec.Struct, kw_only=True, frozen=True):
    ttft_s: float | None
    itl_s: list[float]
    itl_tokens: list[int] | None
    e2e_s: float | None

    def output(
        self, input_tokens: int, output_tokens: int, *, cached_input_tokens: int | None = None
    ) -> RequestOutput:
        """The RequestOutput of a request with these times."""
        return RequestOutput(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            ttft_s=self.ttft_s,
            e2e_s=self.e2e_s,
            itl_s=self.itl_s,
            itl_tokens=self.itl_tokens,
            cached_input_tokens=cached_input_tokens,
        )


def times_from_arrivals(arrivals: Sequence[tuple[float, int]], *, end_s: float | None = None) -> RequestTimes:
    """TTFT, gaps (one per arrival after the first) and end to end of one request from `(time_s,
    tokens_arrived)` pairs in arrival order.

    `itl_tokens` is None when every later arrival carried one token. End to end is `end_s` when given (e.g.
    when the request's end is observed separately from its last token), else the last arrival."""
    arrivals = [(t, k) for t, k in arrivals if k > 0]
    if not arrivals:
        return RequestTimes(ttft_s=None, itl_s=[], itl_tokens=None, e2e_s=end_s)
    gaps = [t - prev for (prev, _), (t, _) in itertools.pairwise(arrivals)]
    counts = [k for _, k in arrivals[1:]]
    return RequestTimes(
        ttft_s=arrivals[0][0],
        itl_s=gaps,
        itl_tokens=counts if any(k > 1 for k in counts) else None,
        e2e_s=end_s if end_s is not None else arrivals[-1][0],
    )


def times_from_steps(step_s: Sequence[float], n_tokens: int, *, end_s: float | None = None) -> RequestTimes:
    """The same for a backend that sees one token per request per step (step k's time: token k exists)."""
    return times_from_arrivals([(t, 1) for t in step_s[:n_tokens]], end_s=end_s)
