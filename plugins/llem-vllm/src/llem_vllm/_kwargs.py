"""The one mapping from the experiment config to vLLM's arguments (pure functions: config in, kwargs out).

A section field left None produces no argument: vLLM's own default applies. The tables below are also what the
drift test checks against the installed vLLM (every name must still exist there).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from llem.kit.decoder import decoder_intent
from llem.kit.precision import dtype_name

from llem_vllm._config import VLLMConfig
from llem_vllm.plugin import CAPABILITIES

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.types import Batch


# section field -> vllm.LLM / EngineArgs keyword, passed as given when set.
ENGINE_FIELDS = {
    name: name
    for name in (
        "gpu_memory_utilization", "kv_cache_memory_bytes", "kv_cache_dtype", "block_size",
        "enable_prefix_caching", "cpu_offload_gb", "max_num_seqs", "max_num_batched_tokens", "max_model_len",
        "enable_chunked_prefill", "async_scheduling", "tensor_parallel_size", "pipeline_parallel_size",
        "distributed_executor_backend", "disable_custom_all_reduce", "quantization", "enforce_eager",
        "cudagraph_capture_sizes", "max_cudagraph_capture_size", "optimization_level", "performance_mode",
        "seed",
    )
}  # fmt: skip
# section field -> key of EngineArgs.compilation_config (a vllm.config.CompilationConfig field).
COMPILATION_FIELDS = {"compilation_mode": "mode", "cudagraph_mode": "cudagraph_mode"}
# section field -> key of EngineArgs.speculative_config (a vllm.config.SpeculativeConfig field).
SPECULATIVE_FIELDS = {
    "speculative_method": "method",
    "speculative_model": "model",
    "num_speculative_tokens": "num_speculative_tokens",
    "prompt_lookup_min": "prompt_lookup_min",
    "prompt_lookup_max": "prompt_lookup_max",
}
# section field -> vllm.SamplingParams field.
SAMPLING_FIELDS = {
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "ignore_eos": "ignore_eos",
    "n": "n",
    "sampling_seed": "seed",
}
# shared decoder field -> vllm.SamplingParams field (greedy decoding becomes temperature 0).
DECODER_FIELDS = {
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "repetition_penalty": "repetition_penalty",
    "min_new_tokens": "min_tokens",
}
# Fields that are llem's own (no vLLM argument of that name): how the engine is run and timed.
LLEM_FIELDS = (
    "multiprocessing", "per_token_timestamps", "extra_runtime_args",
    "mode", "server_port", "server_ready_timeout_s",
)  # fmt: skip


def _section(config: ExperimentBase) -> VLLMConfig:
    return config.section(VLLMConfig)


def engine_kwargs(
    config: ExperimentBase, model_path: str, *, skip_tokenizer_init: bool = False
) -> dict[str, Any]:
    """Keyword arguments for `vllm.LLM(...)`, extra_runtime_args merged last."""
    vc = _section(config)
    kwargs: dict[str, Any] = {
        "model": model_path,
        "dtype": dtype_name(config.precision),
        "seed": config.random_seed,
        # LLM() turns request statistics off by default; llem reads TTFT/e2e from them (RequestStateStats).
        "disable_log_stats": False,
    }
    if skip_tokenizer_init:
        kwargs["skip_tokenizer_init"] = True
    for name, arg in ENGINE_FIELDS.items():
        value = getattr(vc, name)
        if value is not None:
            kwargs[arg] = value
    compilation = {arg: getattr(vc, f) for f, arg in COMPILATION_FIELDS.items() if getattr(vc, f) is not None}
    if compilation:
        kwargs["compilation_config"] = compilation
    speculative = {arg: getattr(vc, f) for f, arg in SPECULATIVE_FIELDS.items() if getattr(vc, f) is not None}
    if speculative:
        kwargs["speculative_config"] = speculative
    if vc.extra_runtime_args:
        kwargs.update(vc.extra_runtime_args)
    return kwargs


def engine_env(config: ExperimentBase) -> dict[str, str]:
    """Environment variables vLLM must see before the engine starts (the llem-only
    `multiprocessing` field)."""
    vc = _section(config)
    if vc.multiprocessing is None:
        return {}
    return {"VLLM_ENABLE_V1_MULTIPROCESSING": "1" if vc.multiprocessing else "0"}


def sampling_kwargs(config: ExperimentBase, batch: Batch) -> dict[str, Any]:
    """Keyword arguments for `vllm.SamplingParams(...)`, passthrough_kwargs merged last.

    Fixed output length is `ignore_eos` plus `min_tokens = max_tokens`: every request generates exactly
    max_new_tokens tokens. Text is never needed by llem, so detokenisation is off (no per-token host work).
    """
    vc = _section(config)
    intent = decoder_intent(config, CAPABILITIES)
    kwargs: dict[str, Any] = {"max_tokens": batch.max_new_tokens, "detokenize": False}
    if intent.strategy == "greedy":
        kwargs["temperature"] = 0.0
    for name, arg in DECODER_FIELDS.items():
        if name in intent.applied:
            kwargs[arg] = intent.applied[name]
    for name, arg in SAMPLING_FIELDS.items():
        value = getattr(vc, name)
        if value is not None:
            kwargs[arg] = value
    if batch.fixed_output_length:
        kwargs["ignore_eos"] = True
        kwargs["min_tokens"] = batch.max_new_tokens
    if config.passthrough_kwargs:
        kwargs.update(config.passthrough_kwargs)
    return kwargs


# engine_kwargs keys that configure the offline LLM object only (the OpenAI server has its own behaviour).
_OFFLINE_ONLY = ("model", "disable_log_stats", "skip_tokenizer_init")
# SamplingParams keys that are not request fields of vLLM's OpenAI server (text is always detokenised there).
_NOT_REQUEST_FIELDS = ("detokenize",)


def server_args(config: ExperimentBase, model_path: str, *, port: int) -> list[str]:
    """`vllm serve` arguments (after the program name) for this config: engine_kwargs written as CLI flags.

    One source of truth: every engine setting reaches the server through engine_kwargs, so the offline and the
    server modes cannot drift apart. True/False become --flag/--no-flag, dicts JSON, lists repeated values.
    """
    args = [
        "--model",
        model_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        config.model,
    ]
    for key, value in engine_kwargs(config, model_path).items():
        if key in _OFFLINE_ONLY or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False:
            args.append("--no-" + key.replace("_", "-"))
        elif isinstance(value, dict):
            args += [flag, json.dumps(value)]
        elif isinstance(value, list | tuple):
            args += [flag, *map(str, value)]
        else:
            args += [flag, str(value)]
    return args


def server_request_fields(config: ExperimentBase, batch: Batch) -> dict[str, Any]:
    """The fields of every request to the started server: sampling_kwargs (the offline mapping), streamed."""
    fields = {k: v for k, v in sampling_kwargs(config, batch).items() if k not in _NOT_REQUEST_FIELDS}
    return {
        **fields,
        "stream": True,
        "stream_options": {"include_usage": True},
        "return_token_ids": True,  # count tokens exactly, whatever the (often empty) text of random weights
    }
