"""One `generate` call: the whole batch goes to vLLM at once (its scheduler batches; llem does not re-batch).

Times come from vLLM's per-request statistics (`RequestOutput.metrics`, a v1 `RequestStateStats`): its
`first_token_ts` / `last_token_ts` are the engine core's `time.monotonic()` when the request's first / last
token was produced. CLOCK_MONOTONIC is system-wide on Linux, so they are comparable with a `time.monotonic()`
read at the start of the call, even when the engine core runs in another process.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from llem.kit.timing import times_from_arrivals
from llem.plugins.types import BatchOutput, RequestOutput

from llem_vllm import _kwargs
from llem_vllm._config import VLLMConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.types import Batch, Prompt

    from llem_vllm._engine import VLLMHandle

REQUEST_METRICS = "vllm_request_metrics"
STEP_TIMESTAMPS = "vllm_request_metrics+engine_step_timestamps"
HOST_CLOCK = "streaming_host_clock"


def vllm_prompt(prompt: Prompt) -> Any:
    """Token ids go in as TokensPrompt dicts (no tokenizer involved), text as plain strings."""
    if prompt.token_ids is not None:
        return {"prompt_token_ids": prompt.token_ids}
    return prompt.text


def sampling_params(config: ExperimentBase, batch: Batch, *, stream: bool = False) -> Any:
    from vllm import SamplingParams

    kwargs = _kwargs.sampling_kwargs(config, batch)
    if stream:
        from vllm.sampling_params import RequestOutputKind

        kwargs["output_kind"] = RequestOutputKind.DELTA
    return SamplingParams(**kwargs)


def run_batch(handle: VLLMHandle, batch: Batch, config: ExperimentBase) -> BatchOutput:
    stream = bool(config.section(VLLMConfig).per_token_timestamps)
    params = sampling_params(config, batch, stream=stream)
    prompts = [vllm_prompt(p) for p in batch.prompts]
    out = _streamed(handle.llm, prompts, params) if stream else _whole(handle.llm, prompts, params)
    if not handle.notes_reported:
        out.notes[:0] = handle.notes
        handle.notes_reported = True
    return out


def _whole(llm: Any, prompts: list[Any], params: Any) -> BatchOutput:
    """LLM.generate as a user would call it; times from each request's RequestStateStats."""
    t0 = time.monotonic()
    results = llm.generate(prompts, params, use_tqdm=False)
    requests, ids, missing = [], [], 0
    for r in results:
        m = r.metrics
        first = m.first_token_ts if m is not None and m.first_token_ts else None
        last = m.last_token_ts if m is not None and m.last_token_ts else None
        missing += first is None
        requests.append(
            RequestOutput(
                input_tokens=len(r.prompt_token_ids or ()),
                output_tokens=sum(len(c.token_ids) for c in r.outputs),
                ttft_s=first - t0 if first is not None else None,
                e2e_s=last - t0 if last is not None else None,
                cached_input_tokens=r.num_cached_tokens,
            )
        )
        ids.append(list(r.outputs[0].token_ids) if r.outputs else [])
    notes = []
    source = REQUEST_METRICS
    if missing:
        source = "none"
        notes.append(f"vllm: {missing} requests carried no RequestStateStats; their TTFT is unknown")
    return BatchOutput(requests=requests, timing_source=source, notes=notes, output_token_ids=ids)


def _streamed(llm: Any, prompts: list[Any], params: Any) -> BatchOutput:
    """Per-step (DELTA) outputs: each step's engine-core timestamp gives every token's time,
    hence real ITLs."""
    engine = llm.llm_engine
    t0 = time.monotonic()
    llm.enqueue(prompts, params, use_tqdm=False)
    # Outputs carry the caller-side request id (enqueue returns vLLM's internal ones); like LLM.generate,
    # prompt order is the numeric order of those ids.
    steps: dict[str, list[tuple[float, int]]] = defaultdict(list)
    tokens: dict[str, list[int]] = defaultdict(list)
    first_out: dict[str, Any] = {}
    host_clock = False
    while engine.has_unfinished_requests():
        for r in engine.step():
            m = r.metrics
            if m is not None and m.last_token_ts:
                ts = m.last_token_ts
            else:
                ts, host_clock = time.monotonic(), True
            new = [t for c in r.outputs for t in c.token_ids]
            if new:
                steps[r.request_id].append((ts, len(new)))
                tokens[r.request_id].extend(new)
            first_out.setdefault(r.request_id, r)
            if r.finished:
                first_out[r.request_id] = _keep_prompt(first_out[r.request_id], r)
    request_ids = sorted(first_out, key=int)
    if len(request_ids) != len(prompts):
        raise RuntimeError(f"vLLM returned {len(request_ids)} requests for {len(prompts)} prompts")
    requests, ids = [], []
    for rid in request_ids:
        times = times_from_arrivals([(ts - t0, k) for ts, k in steps[rid]])
        r = first_out.get(rid)
        requests.append(
            times.output(
                len(r.prompt_token_ids or ()) if r is not None else 0,
                len(tokens[rid]),
                cached_input_tokens=r.num_cached_tokens if r is not None else None,
            )
        )
        ids.append(tokens[rid])
    notes = []
    if host_clock:
        notes.append("vllm: some steps carried no engine timestamp; llem's clock at step return was used")
    return BatchOutput(
        requests=requests, timing_source=HOST_CLOCK if host_clock else STEP_TIMESTAMPS, notes=notes,
        output_token_ids=ids,
    )  # fmt: skip


def _keep_prompt(first: Any, final: Any) -> Any:
    """The final delta carries the cached-token count; the first one always carries the prompt ids."""
    if final.prompt_token_ids is None:
        final.prompt_token_ids = first.prompt_token_ids
    return final
