"""A prompt set: the measured prompts and a generator of warm-up prompts that share no prefix with them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llem.errors import UserError
from llem.plugins.types import Prompt

# Text prompts reused for warm-up get this prefix, so their token sequence differs from the first token on.
WARMUP_TEXT_PREFIX = "Warm-up request {i}. "


@dataclass(frozen=True)
class PromptSet:
    """The measured prompts, and a generator of warm-up prompts (`warmup(n)`: n prompts, deterministic)."""

    measured: list[Prompt]
    warmup: Callable[[int], list[Prompt]]
    source: str


def text_prompt_set(texts: list[str], n_prompts: int, *, source: str, origin: str) -> PromptSet:
    """The first n_prompts texts are measured; warm-up prompts are distinct, prefixed texts."""
    if len(texts) < n_prompts:
        raise UserError(
            f"{origin}: has {len(texts)} prompts but n_prompts is {n_prompts} (lower n_prompts or add "
            "prompts; a repeated prompt would be served from cache by engines with prefix caching)"
        )
    measured = [Prompt(text=t) for t in texts[:n_prompts]]
    spare = texts[n_prompts:]

    def warmup(n: int) -> list[Prompt]:
        # Spare texts first (real prompts, unseen by the window); then measured texts behind a distinct
        # prefix,
        # which changes the token sequence from its first token so no cached prefix is shared.
        out = [Prompt(text=t) for t in spare[:n]]
        i = 0
        while len(out) < n:
            out.append(Prompt(text=WARMUP_TEXT_PREFIX.format(i=i) + texts[i % n_prompts]))
            i += 1
        return out

    return PromptSet(measured=measured, warmup=warmup, source=source)
