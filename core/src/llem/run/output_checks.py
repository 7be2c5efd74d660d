"""Every BatchOutput is checked before the core believes it: a backend cannot publish impossible numbers.

Token counts must fit the batch (one output per prompt, at most max_new_tokens each, exactly that many under
fixed_output_length, matching the token ids when the backend returns them, input counts matching token-id
prompts); times must be finite, non-negative and ordered (TTFT ≤ first token + gaps ≤ end to end), and fit
inside the generate call the core timed. A violation fails the run with one line naming the backend.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from llem.plugins.types import BatchOutput

if TYPE_CHECKING:
    from llem.plugins.types import Batch, RequestOutput

# Backends stamp times with their own clocks (CUDA events, engine timestamps): allow this much beyond the
# core's perf_counter around the generate call before calling a time impossible.
_WALL_SLACK_S = 0.005
_WALL_SLACK_FRACTION = 0.01
# Sums of gaps are floating-point: ordering checks allow this much rounding.
_ORDER_TOLERANCE_S = 1e-6


class BackendOutputError(RuntimeError):
    """A backend returned an output that cannot be true; the run fails with this one-line message."""


def check_batch_output(
    backend: str, batch: Batch, out: object, elapsed_s: float | None = None
) -> BatchOutput:
    """`out` as a BatchOutput, or BackendOutputError naming the backend, the batch and the first problem."""
    where = f"batch {batch.index} ({batch.phase})"
    if not isinstance(out, BatchOutput):
        raise BackendOutputError(
            f"backend {backend!r} returned {type(out).__name__} from generate, not BatchOutput ({where})"
        )
    problem = _problem(batch, out, elapsed_s)
    if problem is not None:
        raise BackendOutputError(f"backend {backend!r} returned an impossible output, {where}: {problem}")
    return out


def _problem(batch: Batch, out: BatchOutput, elapsed_s: float | None) -> str | None:
    if len(out.requests) != len(batch.prompts):
        return f"{len(out.requests)} request outputs for {len(batch.prompts)} prompts"
    ids = out.output_token_ids
    if ids is not None and len(ids) != len(out.requests):
        return f"output_token_ids has {len(ids)} rows for {len(out.requests)} requests"
    for i, (prompt, r) in enumerate(zip(batch.prompts, out.requests, strict=True)):
        problem = _request_problem(batch, r, elapsed_s)
        if problem is None and ids is not None and len(ids[i]) != r.output_tokens:
            problem = f"output_tokens {r.output_tokens} but {len(ids[i])} output token ids"
        if problem is None and prompt.token_ids is not None and r.input_tokens != len(prompt.token_ids):
            problem = f"input_tokens {r.input_tokens} for a prompt of {len(prompt.token_ids)} token ids"
        if problem is not None:
            return f"request {i}: {problem}"
    return None


def _request_problem(batch: Batch, r: RequestOutput, elapsed_s: float | None) -> str | None:
    limit = batch.max_new_tokens
    if r.input_tokens < 0 or r.output_tokens < 0:
        return f"negative token count (input {r.input_tokens}, output {r.output_tokens})"
    if r.output_tokens > limit:
        return f"output_tokens {r.output_tokens} > max_new_tokens {limit}"
    if batch.fixed_output_length and r.output_tokens != limit:
        return f"output_tokens {r.output_tokens} under fixed_output_length (must be exactly {limit})"
    if r.itl_s is not None and len(r.itl_s) > max(r.output_tokens - 1, 0):
        return f"{len(r.itl_s)} inter-token gaps for {r.output_tokens} output tokens"
    if r.itl_tokens is not None:
        if r.itl_s is None or len(r.itl_tokens) != len(r.itl_s):
            return f"itl_tokens has {len(r.itl_tokens)} entries for {len(r.itl_s or [])} gaps in itl_s"
        if any(k < 1 for k in r.itl_tokens) or sum(r.itl_tokens) > max(r.output_tokens - 1, 0):
            return f"itl_tokens {r.itl_tokens} do not fit {r.output_tokens} output tokens"
    times = {"ttft_s": r.ttft_s, "e2e_s": r.e2e_s}
    for name, value in times.items():
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"{name} {value} is not a finite non-negative time"
    if r.itl_s is not None and not all(math.isfinite(g) and g >= 0 for g in r.itl_s):
        bad = next(g for g in r.itl_s if not (math.isfinite(g) and g >= 0))
        return f"itl_s contains {bad}, not a finite non-negative time"
    if r.ttft_s is not None and r.e2e_s is not None:
        last = r.ttft_s + sum(r.itl_s or ())
        if r.ttft_s > r.e2e_s + _ORDER_TOLERANCE_S:
            return f"ttft_s {r.ttft_s:.6g} > e2e_s {r.e2e_s:.6g}"
        if last > r.e2e_s + _ORDER_TOLERANCE_S * max(1, r.output_tokens):
            return f"ttft_s + inter-token gaps = {last:.6g} s > e2e_s {r.e2e_s:.6g}"
    if elapsed_s is not None:
        wall = elapsed_s * (1 + _WALL_SLACK_FRACTION) + _WALL_SLACK_S
        for name, value in times.items():
            if value is not None and value > wall:
                return f"{name} {value:.6g} s is longer than the whole generate call ({elapsed_s:.6g} s)"
    return None
