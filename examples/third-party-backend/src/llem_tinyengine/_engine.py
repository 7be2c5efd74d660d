"""The engine: load reads the model's vocabulary; generate produces tokens step by step and times them."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from llem.config.experiment import ExperimentBase
from llem.kit.decoder import DecoderIntent
from llem.kit.timing import times_from_steps
from llem.models.info import read_model_config
from llem.plugins import Batch, BatchOutput

from llem_tinyengine._config import TinyEngineConfig


@dataclass
class TinyHandle:
    """What `llem_load` returns and `llem_generate` receives."""

    vocab_size: int
    eos_token_id: int | None
    hash_tokens: bool
    mix_rounds: int
    intent: DecoderIntent


def load(config: ExperimentBase, intent: DecoderIntent) -> TinyHandle:
    section = config.section(TinyEngineConfig)
    model = read_model_config(
        config.model
    )  # random:NAME needs no download; a hub id or folder its config.json
    eos = model.get("eos_token_id")
    return TinyHandle(
        vocab_size=int(model["vocab_size"]),
        eos_token_id=eos if isinstance(eos, int) else None,
        hash_tokens=section.hash_tokens if section.hash_tokens is not None else True,
        mix_rounds=section.mix_rounds or 4,
        intent=intent,
    )


def generate(handle: TinyHandle, batch: Batch) -> BatchOutput:
    rng = random.Random(batch.seed)
    top_k = handle.intent.applied.get("top_k") or handle.vocab_size
    last = [(p.token_ids or [0])[-1] for p in batch.prompts]
    outputs: list[list[int]] = [[] for _ in batch.prompts]
    done = [False] * len(batch.prompts)
    steps_s: list[float] = []
    t0 = time.perf_counter()
    for step in range(batch.max_new_tokens):
        for i, prev in enumerate(last):
            if done[i]:
                continue
            token = _next(handle, prev, step)
            if handle.intent.strategy == "sampling":
                token = (token + rng.randrange(min(top_k, handle.vocab_size))) % handle.vocab_size
            outputs[i].append(token)
            last[i] = token
            if not batch.fixed_output_length and token == handle.eos_token_id:
                done[i] = True
        steps_s.append(time.perf_counter() - t0)
        if all(done):
            break
    end_s = time.perf_counter() - t0
    requests = [  # validate refused text prompts: every prompt has token ids
        times_from_steps(steps_s, len(out), end_s=steps_s[len(out) - 1] if out else end_s).output(
            len(prompt.token_ids or []), len(out)
        )
        for prompt, out in zip(batch.prompts, outputs, strict=True)
    ]
    return BatchOutput(requests=requests, timing_source="perf_counter_per_step", output_token_ids=outputs)


def _next(handle: TinyHandle, prev: int, step: int) -> int:
    x = prev * 2654435761 + step if handle.hash_tokens else prev + 1
    for _ in range(handle.mix_rounds):
        x = (x ^ (x >> 13)) * 0x5BD1E995 & 0xFFFFFFFF
    return x % handle.vocab_size
