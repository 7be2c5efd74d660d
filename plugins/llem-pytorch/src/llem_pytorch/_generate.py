"""Run one batch through `model.generate` and report real token counts and per-request timings.

This is the measured path: it does what inference needs (pad, generate, copy ids back) and nothing else.
Per-step times come from the StepClock inside transformers' loop (CUDA events on a GPU: no synchronisation per
step).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch
from llem.kit.timing import times_from_steps
from llem.plugins.types import Batch, BatchOutput, Prompt, RequestOutput
from transformers import LogitsProcessorList

from llem_pytorch import _kwargs
from llem_pytorch._load import PyTorchHandle, check_auto_compile, is_compile_error, uncompile

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase


def encode(
    handle: PyTorchHandle, prompts: list[Prompt], max_input_tokens: int
) -> tuple[dict[str, Any], list[int]]:
    """Left-padded input_ids and attention_mask on the model's device, and each prompt's real length."""
    rows = []
    for p in prompts:
        if p.token_ids is not None:
            rows.append(list(p.token_ids))
        else:
            ids = handle.tokenizer(p.text, truncation=True, max_length=max_input_tokens)["input_ids"]
            rows.append(list(ids))
    lengths = [len(r) for r in rows]
    width = max(lengths)
    pad = handle.pad_token_id if handle.pad_token_id is not None else 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, width - len(row) :] = 1
    inputs = {
        "input_ids": input_ids.to(handle.device, non_blocking=True),
        "attention_mask": attention_mask.to(handle.device, non_blocking=True),
    }
    return inputs, lengths


def count_output_tokens(generated: list[list[int]], eos_ids: frozenset[int]) -> list[int]:
    """Tokens each row really generated: up to and including its first end-of-sequence token.

    transformers pads rows that finished early (with the pad token, which may equal EOS): not output.
    """
    counts = []
    for row in generated:
        n = len(row)
        for i, tok in enumerate(row):
            if tok in eos_ids:
                n = i + 1
                break
        counts.append(n)
    return counts


def run_batch(
    handle: PyTorchHandle, batch: Batch, config: ExperimentBase, *, t0: float | None = None
) -> BatchOutput:
    """Generate for `batch`; times in the result are seconds since `t0` (default: now)."""
    if t0 is None:
        t0 = time.perf_counter()
    kwargs = _kwargs.generate_kwargs(
        config, max_new_tokens=batch.max_new_tokens, fixed_output_length=batch.fixed_output_length
    )
    clock = handle.clock
    assert clock is not None
    processors = LogitsProcessorList(kwargs.pop("logits_processor", None) or [])
    processors.append(clock)
    kwargs.setdefault("pad_token_id", handle.pad_token_id)
    if handle.compile_config is not None:
        kwargs.setdefault("compile_config", handle.compile_config)
    inputs, input_lengths = encode(handle, batch.prompts, config.max_input_tokens)
    torch.manual_seed(batch.seed)  # the same sampled tokens for the same batch and seed

    clock.start(t0)
    try:
        out = _generate(handle, inputs, processors, kwargs)
    except Exception as exc:
        if not (handle.compiled and is_compile_error(exc)):
            raise
        # A shape the load-time probe did not cover failed to compile: carry on eagerly, and say so.
        uncompile(handle, exc)
        clock.start(t0)
        out = _generate(handle, inputs, processors, kwargs)
    generated = out[:, inputs["input_ids"].shape[1] :].tolist()  # waits for the GPU
    check_auto_compile(handle)
    end_s = time.perf_counter() - t0
    steps_s = clock.times_s()

    output_tokens = count_output_tokens(generated, _eos_ids(handle, kwargs))
    per_token = "prompt_lookup_num_tokens" not in kwargs and "assistant_model" not in kwargs
    requests = _requests(input_lengths, output_tokens, steps_s, end_s, per_token)
    notes = list(handle.notes)
    if not per_token:
        notes.append(
            "assisted generation verifies several tokens per forward pass: per-token times (itl_s) are not "
            "reported, only time to first token and end to end"
        )
    return BatchOutput(
        requests=requests,
        timing_source="logits_processor_cuda_events" if clock.cuda else "logits_processor_perf_counter",
        notes=notes,
        output_token_ids=[row[:n] for row, n in zip(generated, output_tokens, strict=True)],
    )


def _eos_ids(handle: PyTorchHandle, kwargs: dict[str, Any]) -> frozenset[int]:
    """The ids generate stops at: the model's, unless a passthrough eos_token_id replaced them."""
    override = kwargs.get("eos_token_id")
    if override is None:
        return handle.eos_token_ids
    return frozenset([override] if isinstance(override, int) else override)


def _generate(handle: PyTorchHandle, inputs: dict[str, Any], processors: Any, kwargs: dict[str, Any]) -> Any:
    with torch.inference_mode():
        return handle.model.generate(**inputs, logits_processor=processors, **kwargs)


def _requests(
    input_lengths: list[int], output_tokens: list[int], steps_s: list[float], end_s: float, per_token: bool
) -> list[RequestOutput]:
    """Per-request timings from the batch's step times (the core kit's rule: one token per request per step).

    Step k's time is when the logits of output token k existed. A request's end is the step after its last
    token when it stopped early (transformers then only pads it), else the end of generate. Assisted
    generation verifies several tokens per step, an unknown number per request: only TTFT and end to end are
    reported.
    """
    longest = max(output_tokens, default=0)
    out = []
    for n_in, n_out in zip(input_lengths, output_tokens, strict=True):
        if per_token:
            end = steps_s[n_out] if n_out < longest and n_out < len(steps_s) else end_s
            out.append(times_from_steps(steps_s, n_out, end_s=end).output(n_in, n_out))
        else:
            ttft = steps_s[0] if steps_s and n_out > 0 else None
            out.append(RequestOutput(input_tokens=n_in, output_tokens=n_out, ttft_s=ttft, e2e_s=end_s))
    return out
