"""Config -> a plain-data description of the TensorRT-LLM 1.2 LLM API call, and -> SamplingParams kwargs.

Pure functions: no tensorrt_llm import, so the whole mapping is tested on any machine. `_materialise.py` turns
the description into real tensorrt_llm objects. Names follow `tensorrt_llm/llmapi/llm_args.py`, `builder.py`,
`plugin/plugin.py` and `sampling_params.py` (see `_config.py`). A field left None produces no key.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import msgspec
from llem.kit.decoder import decoder_intent
from llem.kit.precision import dtype_name
from llem.kit.unvalidated import unvalidated_settings

from llem_tensorrt._config import KV_CACHE_ALGOS, QUANT_ALGOS, TensorRTConfig
from llem_tensorrt.plugin import CAPABILITIES

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase

SPEC_CLASSES = {
    "draft_target": "DraftTargetDecodingConfig",
    "eagle": "EagleDecodingConfig",
    "eagle3": "Eagle3DecodingConfig",
    "medusa": "MedusaDecodingConfig",
    "lookahead": "LookaheadDecodingConfig",
    "ngram": "NGramDecodingConfig",
    "mtp": "MTPDecodingConfig",
}
# Nested config objects of the LLM(...) call: description key == LLM keyword argument.
NESTED = (
    "build_config", "kv_cache_config", "scheduler_config", "quant_config", "speculative_config",
    "extended_runtime_perf_knob_config", "cuda_graph_config", "torch_compile_config", "moe_config",
)  # fmt: skip
# Only used while compiling the engine; loading a built engine takes the rest.
BUILD_ONLY = ("build_config", "quant_config", "fast_build")


def _put(d: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        d[key] = value


def section(config: ExperimentBase) -> TensorRTConfig:
    s = config.section()
    assert isinstance(s, TensorRTConfig), f"not a tensorrt config: {type(s).__name__}"
    return s


def describe(config: ExperimentBase) -> dict[str, Any]:
    """The LLM API call as plain data: {"backend", "llm_kwargs", "build_config", "kv_cache_config",
    "scheduler_config", "quant_config", "speculative_config", "extended_runtime_perf_knob_config",
    "cuda_graph_config", "torch_compile_config", "moe_config", "unvalidated"}; absent pieces are None."""
    s = section(config)
    trt = s.backend == "trt"
    out: dict[str, Any] = {"backend": s.backend, **dict.fromkeys(NESTED)}
    out["llm_kwargs"] = _llm_kwargs(config, s)
    out["kv_cache_config"] = _kv_cache(s) or None
    out["scheduler_config"] = _scheduler(s) or None
    out["speculative_config"] = _speculative(s)
    if trt:
        out["build_config"] = _build(s)
        out["quant_config"] = _quant(s) or None
        perf: dict[str, Any] = {}
        for name in (
            "multi_block_mode",
            "enable_context_fmha_fp32_acc",
            "cuda_graph_mode",
            "cuda_graph_cache_size",
        ):
            _put(perf, name, getattr(s, name))
        out["extended_runtime_perf_knob_config"] = perf or None
    else:
        graph: dict[str, Any] = {}
        _put(graph, "max_batch_size", s.cuda_graph_max_batch_size)
        _put(graph, "enable_padding", s.cuda_graph_padding)
        if s.cuda_graph_batch_sizes is not None:
            graph["batch_sizes"] = list(s.cuda_graph_batch_sizes)
        out["cuda_graph_config"] = graph or None
        # torch_compile: false is TensorRT-LLM's default (torch_compile_config=None), so it adds nothing.
        out["torch_compile_config"] = {} if s.torch_compile else None
        out["moe_config"] = {"backend": s.moe_backend} if s.moe_backend is not None else None
    out["unvalidated"] = unvalidated_settings(config)
    # The escape hatch is merged last: a key there replaces llem's own value, nested configs included.
    for key in s.extra_runtime_args or {}:
        if key in NESTED:
            out[key] = None
    out["llm_kwargs"].update(s.extra_runtime_args or {})
    return out


def _llm_kwargs(config: ExperimentBase, s: TensorRTConfig) -> dict[str, Any]:
    kw: dict[str, Any] = {"dtype": dtype_name(config.precision)}
    for name in (
        "tensor_parallel_size", "pipeline_parallel_size", "context_parallel_size",
        "moe_cluster_parallel_size", "moe_expert_parallel_size", "moe_tensor_parallel_size",
        "enable_attention_dp", "max_batch_size", "max_input_len", "max_seq_len", "max_num_tokens",
        "max_beam_width", "enable_chunked_prefill",
    ):  # fmt: skip
        _put(kw, name, getattr(s, name))
    if s.backend == "trt":
        kw["batching_type"] = s.batching_type.upper()  # BatchingType.INFLIGHT / STATIC
        _put(kw, "fast_build", s.fast_build)
        _put(kw, "embedding_parallel_mode", s.embedding_parallel_mode)
    else:
        if s.cuda_graphs is False:
            kw["cuda_graph_config"] = None  # TorchLlmArgs: None turns CUDA graphs off
        for name in ("disable_overlap_scheduler", "attn_backend", "enable_autotuner", "batch_wait_timeout_ms",
                     "batch_wait_timeout_iters", "batch_wait_max_tokens_ratio", "sampler_type",
                     "stream_interval", "enable_min_latency"):  # fmt: skip
            _put(kw, name, getattr(s, name))
        if not s.use_custom_all_reduce:
            kw["allreduce_strategy"] = "NCCL"
    return kw


def _kv_cache(s: TensorRTConfig) -> dict[str, Any]:
    kv: dict[str, Any] = {}
    _put(kv, "free_gpu_memory_fraction", s.free_gpu_memory_fraction)
    _put(kv, "max_tokens", s.kv_cache_max_tokens)
    _put(kv, "enable_block_reuse", s.enable_block_reuse)
    _put(kv, "enable_partial_reuse", s.enable_partial_reuse)
    _put(kv, "copy_on_partial_reuse", s.copy_on_partial_reuse)
    _put(kv, "max_gpu_total_bytes", s.kv_cache_max_gpu_bytes)
    _put(kv, "host_cache_size", s.kv_cache_host_cache_size)
    _put(kv, "use_uvm", s.kv_cache_use_uvm)
    _put(kv, "sink_token_length", s.kv_cache_sink_token_length)
    if s.max_attention_window is not None:
        kv["max_attention_window"] = [s.max_attention_window]  # repeated over all layers by TensorRT-LLM
    if s.backend == "pytorch":
        # On trt the block size is an engine property (PluginConfig) and KvCacheConfig.dtype must stay 'auto'.
        _put(kv, "tokens_per_block", s.tokens_per_block)
        _put(kv, "dtype", s.kv_cache_dtype)
    return kv


def _scheduler(s: TensorRTConfig) -> dict[str, Any]:
    sc: dict[str, Any] = {}
    if s.capacity_scheduler_policy is not None:
        sc["capacity_scheduler_policy"] = s.capacity_scheduler_policy.upper()
    if s.context_chunking_policy is not None:
        sc["context_chunking_policy"] = s.context_chunking_policy.upper()
    dyn: dict[str, Any] = {}
    _put(dyn, "enable_batch_size_tuning", s.dynamic_batch_size_tuning)
    _put(dyn, "enable_max_num_tokens_tuning", s.dynamic_max_num_tokens_tuning)
    _put(dyn, "dynamic_batch_moving_average_window", s.dynamic_batch_window)
    if dyn:
        sc["dynamic_batch_config"] = dyn
    return sc


def _build(s: TensorRTConfig) -> dict[str, Any]:
    bc: dict[str, Any] = {}
    # max_beam_width goes to both: TrtLlmArgs overrides a runtime value that differs from the engine's.
    for name in ("max_batch_size", "max_input_len", "max_seq_len", "max_num_tokens", "opt_num_tokens",
                 "opt_batch_size", "max_beam_width"):  # fmt: skip
        _put(bc, name, getattr(s, name))
    # Seed 000 gives these a value, so they are always stated (use_strip_plan is strip_plan's
    # BuildConfig name).
    bc["weight_sparsity"] = s.weight_sparsity
    bc["weight_streaming"] = s.weight_streaming
    bc["use_strip_plan"] = s.strip_plan
    plugin: dict[str, Any] = {
        "use_paged_context_fmha": s.use_paged_context_fmha,
        "use_fp8_context_fmha": s.use_fp8_context_fmha,
    }
    for name in ("gemm_plugin", "gpt_attention_plugin", "gemm_swiglu_plugin", "low_latency_gemm_plugin",
                 "low_latency_gemm_swiglu_plugin", "paged_kv_cache", "context_fmha", "remove_input_padding",
                 "multiple_profiles", "use_fused_mlp", "reduce_fusion", "tokens_per_block"):  # fmt: skip
        _put(plugin, name, getattr(s, name))
    if s.kv_cache_sink_token_length is not None:
        plugin["streamingllm"] = (
            True  # the engine's attention keeps sink tokens only when built for StreamingLLM
        )
    extra = dict(s.extra_build_args or {})
    plugin.update(extra.pop("plugin_config", None) or {})
    bc["plugin_config"] = plugin
    bc.update(extra)
    return bc


def _quant(s: TensorRTConfig) -> dict[str, Any]:
    q: dict[str, Any] = {}
    if s.quantization is not None:
        q["quant_algo"] = QUANT_ALGOS[s.quantization]
    if s.kv_cache_dtype is not None:
        q["kv_cache_quant_algo"] = KV_CACHE_ALGOS[s.kv_cache_dtype]
    _put(q, "group_size", s.quant_group_size)
    return q


def _speculative(s: TensorRTConfig) -> dict[str, Any] | None:
    mode = s.speculative_mode
    if mode is None:
        return None
    kw: dict[str, Any] = {}
    if mode == "mtp":
        kw["num_nextn_predict_layers"] = s.max_draft_len  # 1.2's MTPDecodingConfig sets max_draft_len from it
    elif mode == "lookahead":
        _put(kw, "max_window_size", s.lookahead_window_size)  # the draft length follows from these three
        _put(kw, "max_ngram_size", s.lookahead_ngram_size)
        _put(kw, "max_verification_set_size", s.lookahead_verification_set_size)
    else:
        kw["max_draft_len"] = s.max_draft_len
    _put(kw, "speculative_model", s.speculative_model)
    _put(kw, "max_concurrency", s.speculative_max_concurrency)
    if s.eagle_dynamic_tree_top_k is not None:
        kw["use_dynamic_tree"] = True
        kw["dynamic_tree_max_topK"] = s.eagle_dynamic_tree_top_k
    return {"class": SPEC_CLASSES[mode], "kwargs": kw}


def runtime_llm_kwargs(desc: dict[str, Any]) -> dict[str, Any]:
    """The description minus what only the engine build uses (loading a built engine ignores build_config)."""
    out = {k: v for k, v in desc.items() if k not in BUILD_ONLY}
    out["llm_kwargs"] = {k: v for k, v in desc["llm_kwargs"].items() if k not in BUILD_ONLY}
    return out


def engine_key(config: ExperimentBase, library_version: str) -> str:
    """Hash of everything that shapes the compiled engine (not runtime-only settings such as the KV cache
    fraction), so one engine serves every configuration that differs only at runtime."""
    desc = describe(config)
    llm = desc["llm_kwargs"]
    data = {
        "model": config.model,
        "weights_seed": config.random_seed if config.model.startswith("random:") else None,
        "dtype": llm["dtype"],
        "parallel": {
            k: llm.get(k)
            for k in (
                "tensor_parallel_size",
                "pipeline_parallel_size",
                "context_parallel_size",
                "moe_cluster_parallel_size",
                "moe_expert_parallel_size",
                "moe_tensor_parallel_size",
                "embedding_parallel_mode",
            )
        },
        "fast_build": llm.get("fast_build"),
        "build_config": desc["build_config"],
        "quant_config": desc["quant_config"],
        "speculative_config": desc["speculative_config"],
        "tensorrt_llm": library_version,
    }
    return hashlib.sha256(msgspec.json.encode(data, order="sorted")).hexdigest()[:16]


def sampling_kwargs(config: ExperimentBase, max_new_tokens: int, seed: int) -> dict[str, Any]:
    """SamplingParams keyword arguments for one batch (DecoderConfig mapping, passthrough_kwargs
    merged last)."""
    intent = decoder_intent(config, CAPABILITIES)
    applied = intent.applied
    kw: dict[str, Any] = {"max_tokens": max_new_tokens, "detokenize": False}  # llem counts tokens, never text
    s = section(config)
    if s.beam_search:
        # best_of is the beam width and must equal max_beam_width; n = 1 returns (and llem
        # counts) the best beam.
        kw.update(use_beam_search=True, best_of=s.max_beam_width, n=1)
    elif intent.strategy == "greedy":
        kw["top_k"] = 1  # SamplingParams wants temperature > 0; top_k = 1 is greedy
    else:
        # top_k 0 = no top-k filter, the same convention as TensorRT-LLM's runtime
        kw.update((k, applied[k]) for k in ("temperature", "top_k", "top_p") if k in applied)
        kw["seed"] = seed
        _put(kw, "min_p", applied.get("min_p"))
    if applied.get("repetition_penalty", 1.0) != 1.0:
        # 1.0 is TensorRT-LLM's own default; left unset the penalty kernels stay off.
        kw["repetition_penalty"] = applied["repetition_penalty"]
    if config.fixed_output_length:
        kw["ignore_eos"] = True
        kw["min_tokens"] = max_new_tokens
    elif "min_new_tokens" in applied:
        kw["min_tokens"] = applied["min_new_tokens"]
    kw.update(config.passthrough_kwargs or {})
    return kw
