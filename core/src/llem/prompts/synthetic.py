"""Synthetic prompts: random token ids from the model's vocabulary, with the configured lengths."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from llem.models.info import info_from_config, read_model_config
from llem.plugins.types import Prompt
from llem.prompts.sets import PromptSet

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.config.prompts import SyntheticPrompts


def prompt_lengths(spec: SyntheticPrompts, max_tokens: int, n: int, rng: random.Random) -> list[int]:
    """n prompt lengths in [min_input_tokens or 1, max_tokens] following `spec.distribution`."""
    low = min(spec.min_input_tokens or 1, max_tokens)
    if spec.distribution == "fixed":
        return [max_tokens] * n
    if spec.distribution == "uniform":
        return [rng.randint(low, max_tokens) for _ in range(n)]
    mean = spec.mean_input_tokens if spec.mean_input_tokens is not None else (low + max_tokens) / 2
    std = spec.std_input_tokens if spec.std_input_tokens is not None else (max_tokens - low) / 6
    return [min(max_tokens, max(low, round(rng.gauss(mean, std)))) for _ in range(n)]


def token_pool(model: str) -> tuple[int, list[int]]:
    """(vocab size, special token ids to avoid) of `model`, from its config."""
    cfg = read_model_config(model)
    vocab = info_from_config(cfg).vocab_size
    special = set()
    for key in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
        value = cfg.get(key)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, int):
                special.add(v)
    return vocab, sorted(special)


def random_prompts(
    n: int, lengths: list[int], vocab_size: int, avoid: list[int], rng: random.Random
) -> list[Prompt]:
    """n prompts of the given lengths; ids are uniform over the vocabulary minus special tokens."""
    avoid_set = set(avoid)
    allowed = vocab_size - len([a for a in avoid_set if 0 <= a < vocab_size])
    if allowed <= 0:
        raise ValueError("vocabulary has no ordinary tokens")
    ordered_avoid = sorted(a for a in avoid_set if 0 <= a < vocab_size)

    def draw() -> int:
        # Map a draw over the allowed count onto the vocabulary, skipping special ids (no rejection loop).
        x = rng.randrange(allowed)
        for a in ordered_avoid:
            if x >= a:
                x += 1
        return x

    return [Prompt(token_ids=[draw() for _ in range(length)]) for length in lengths[:n]]


def synthetic_prompt_set(config: ExperimentBase, spec: SyntheticPrompts) -> PromptSet:
    """Measured prompts from the run's seed; warm-up prompts from another stream, distinct first tokens."""
    vocab, avoid = token_pool(config.model)
    rng = random.Random(config.random_seed)
    lengths = prompt_lengths(spec, config.max_input_tokens, config.n_prompts, rng)
    measured = random_prompts(config.n_prompts, lengths, vocab, avoid, rng)
    first_tokens = {p.token_ids[0] for p in measured if p.token_ids}

    def warmup(n: int) -> list[Prompt]:
        wrng = random.Random(f"llem-warmup-{config.random_seed}")
        wlengths = prompt_lengths(spec, config.max_input_tokens, n, wrng)
        prompts = random_prompts(n, wlengths, vocab, avoid, wrng)
        # Give every warm-up prompt a first token no measured prompt starts with, so no cached prefix (of any
        # length) can be shared with the window. Possible whenever the vocabulary is larger than n_prompts.
        return [_distinct_start(p, first_tokens, vocab, avoid) for p in prompts]

    return PromptSet(measured=measured, warmup=warmup, source=f"synthetic:{spec.distribution}")


def _distinct_start(prompt: Prompt, taken: set[int], vocab: int, avoid: list[int]) -> Prompt:
    ids = list(prompt.token_ids or [])
    if not ids or ids[0] not in taken:
        return prompt
    blocked = taken | set(avoid)
    candidate = ids[0]
    for _ in range(vocab):
        candidate = (candidate + 1) % vocab
        if candidate not in blocked:
            ids[0] = candidate
            return Prompt(token_ids=ids)
    return prompt
