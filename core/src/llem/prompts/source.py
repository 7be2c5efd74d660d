"""Pick the prompt source named by `config.prompts` and return measured and warm-up prompts.

Warm-up prompts must differ from the measured ones from their first token: engines with prefix caching (vLLM
enables it by default) would otherwise serve the measured prefill from cache and make it look nearly free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llem.config.prompts import DatasetPrompts, FilePrompts, SyntheticPrompts
from llem.plugins.types import Prompt

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase

# Text prompts reused for warm-up get this prefix, so their token sequence differs from the first token on.
WARMUP_TEXT_PREFIX = "Warm-up request {i}. "


@dataclass(frozen=True)
class PromptSet:
    """The measured prompts, and a generator of warm-up prompts (`warmup(n)`: n prompts, deterministic)."""

    measured: list[Prompt]
    warmup: Callable[[int], list[Prompt]]
    source: str


def load_prompts(config: ExperimentBase) -> PromptSet:
    """Measured and warm-up prompts for `config` (a UserError naming the field or file on bad input)."""
    spec = config.prompts
    if isinstance(spec, SyntheticPrompts):
        from llem.prompts.synthetic import synthetic_prompt_set

        return synthetic_prompt_set(config, spec)
    if isinstance(spec, FilePrompts):
        from llem.prompts.files import read_prompt_file

        texts = read_prompt_file(spec)
        return text_prompt_set(texts, config.n_prompts, source=f"file:{spec.path}", origin=spec.path)
    if isinstance(spec, DatasetPrompts):
        from llem.prompts.hub import read_dataset

        texts = read_dataset(spec, limit=2 * config.n_prompts)
        return text_prompt_set(
            texts, config.n_prompts, source=f"dataset:{spec.id}", origin=f"dataset {spec.id}"
        )
    raise AssertionError(f"unhandled prompt source {type(spec).__name__}")  # pragma: no cover


def text_prompt_set(texts: list[str], n_prompts: int, *, source: str, origin: str) -> PromptSet:
    """The first n_prompts texts are measured; warm-up prompts are distinct, prefixed texts."""
    from llem.errors import UserError

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
