"""Notes on a measured window that looks unlike what its configuration should give: batches whose durations
vary a lot, or fewer generated tokens than asked for (a window shorter than its batches suggest)."""

from __future__ import annotations

from collections.abc import Sequence

from llem.results.stats import coefficient_of_variation

# Full batches of one run whose slowest takes this many times the fastest are worth a note.
MAX_BATCH_SPREAD = 2.0
MIN_CV = 0.25
# Fewer than this share of the requested output tokens makes the window short.
MIN_OUTPUT_SHARE = 0.9


def batch_spread_note(durations_s: Sequence[float], sizes: Sequence[int]) -> str | None:
    """A note when full-size batches (the last, shorter one aside) took very different times."""
    full = [d for d, n in zip(durations_s, sizes, strict=True) if sizes and n == sizes[0]]
    if len(full) < 3 or min(full) <= 0:
        return None
    cv = coefficient_of_variation(full)
    if max(full) / min(full) < MAX_BATCH_SPREAD or cv < MIN_CV:
        return None
    return (
        f"batch durations varied a lot within the window: {min(full):.3g}–{max(full):.3g} s (CV {cv:.2f}) "
        "for batches of the same size; something else may have used the device, or the engine changed path "
        "(recompilation, cache eviction): check the timeseries before comparing this run"
    )


def short_output_note(output_tokens: int, n_requests: int, max_output_tokens: int, fixed: bool) -> str | None:
    """A note when requests generated clearly fewer tokens than max_output_tokens."""
    asked = n_requests * max_output_tokens
    if asked == 0 or output_tokens >= MIN_OUTPUT_SHARE * asked:
        return None
    share = output_tokens / asked
    why = (
        "although fixed_output_length is true: the backend stopped early, so this window is shorter than the "
        "configuration implies and not comparable with runs that generated every token"
        if fixed
        else "(end-of-sequence; fixed_output_length is false), so the window is shorter than "
        "max_output_tokens implies and per-token figures are not comparable with fixed-length runs"
    )
    return f"requests generated {output_tokens} of {asked} output tokens ({share:.0%}) {why}"
