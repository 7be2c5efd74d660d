"""The `tensorrt:` config section: every energy- or throughput-relevant knob of the TensorRT-LLM 1.2 LLM API.

Field names, choices and defaults follow the TensorRT-LLM sources read for this plugin (NVIDIA/TensorRT-LLM,
1.2-era versions): `tensorrt_llm/llmapi/llm_args.py` (BaseLlmArgs, TrtLlmArgs, TorchLlmArgs, KvCacheConfig,
SchedulerConfig, DynamicBatchConfig, ExtendedRuntimePerfKnobConfig, the *DecodingConfig classes),
`tensorrt_llm/builder.py` (BuildConfig), `tensorrt_llm/plugin/plugin.py` (PluginConfig),
`tensorrt_llm/quantization/mode.py` (QuantAlgo, KV_CACHE_QUANT_ALGO_LIST) and
`tensorrt_llm/sampling_params.py`.
None means "TensorRT-LLM's own default" and produces no argument, except where seed 000 sets a default.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from llem.config import Section
from llem.config.base import escape_hatch, gpu
from llem.config.rules import conflicts, custom, requires
from msgspec import Meta

# llem name -> tensorrt_llm QuantAlgo member (tensorrt_llm/quantization/mode.py). Only algorithms the LLM API
# can apply to a Hugging Face checkpoint at build time (ModelOpt calibration or weight-only conversion) are
# offered.
QUANT_ALGOS: dict[str, str] = {
    "fp8": "FP8",
    "fp8_per_channel_per_token": "FP8_PER_CHANNEL_PER_TOKEN",
    "fp8_block_scales": "FP8_BLOCK_SCALES",
    "int8_sq": "W8A8_SQ_PER_CHANNEL",
    "int8_weight_only": "W8A16",
    "int4_weight_only": "W4A16",
    "int4_awq": "W4A16_AWQ",
    "int8_gptq": "W8A16_GPTQ",
    "int4_gptq": "W4A16_GPTQ",
    "w4a8_awq": "W4A8_AWQ",
    "nvfp4": "NVFP4",
}
# KV_CACHE_QUANT_ALGO_LIST = [FP8, INT8, NVFP4] in tensorrt_llm/quantization/mode.py.
KV_CACHE_ALGOS: dict[str, str] = {"fp8": "FP8", "int8": "INT8", "nvfp4": "NVFP4"}
# builder.optimize_model_with_config enables FP8 context FMHA only for these quantisations.
FP8_CONTEXT_FMHA_QUANT = ("fp8", "w4a8_awq", "nvfp4")

Quantization = Literal[
    "fp8", "fp8_per_channel_per_token", "fp8_block_scales", "int8_sq", "int8_weight_only", "int4_weight_only",
    "int4_awq", "int8_gptq", "int4_gptq", "w4a8_awq", "nvfp4",
]  # fmt: skip
SpeculativeMode = Literal["draft_target", "eagle", "eagle3", "medusa", "lookahead", "ngram", "mtp"]
PluginDtype = Literal["auto", "float16", "bfloat16", "float32", "disable"]

# Which runtime each speculative mode runs on: DecodingBaseConfig.supports_backend() in llm_args.py (Medusa
# and Lookahead: not pytorch; NGram, MTP, DraftTarget: pytorch only; Eagle3 raises on TRT, Eagle v1/v2 is
# TRT-only).
SPEC_MODE_BACKEND: dict[str, str] = {
    "draft_target": "pytorch",
    "eagle": "trt",
    "eagle3": "pytorch",
    "medusa": "trt",
    "lookahead": "trt",
    "ngram": "pytorch",
    "mtp": "pytorch",
}
# EagleDecodingConfig.validate_speculative_model and DraftTargetDecodingConfig raise without a draft model.
SPEC_MODES_NEEDING_MODEL = ("draft_target", "eagle", "eagle3")


_PosInt = Annotated[int, Meta(ge=1)]
_NonNegInt = Annotated[int, Meta(ge=0)]


# Settings that only exist in the TensorRT engine flow: BuildConfig / PluginConfig (build_config is a
# TrtLlmArgs field) plus TrtLlmArgs-only fields. _TorchLLM._validate_args_for_torch_backend rejects
# TrtLlmArgs-only arguments.
TRT_ONLY_NONE = (
    "gemm_plugin", "gpt_attention_plugin", "context_fmha", "remove_input_padding", "multiple_profiles",
    "use_fused_mlp", "reduce_fusion", "opt_num_tokens", "opt_batch_size", "fast_build", "multi_block_mode",
    "enable_context_fmha_fp32_acc", "cuda_graph_mode", "cuda_graph_cache_size", "dynamic_batch_size_tuning",
    "dynamic_max_num_tokens_tuning", "dynamic_batch_window", "quantization", "quant_group_size",
    "extra_build_args", "paged_kv_cache", "embedding_parallel_mode", "gemm_swiglu_plugin",
    "low_latency_gemm_plugin", "low_latency_gemm_swiglu_plugin", "kv_cache_sink_token_length",
)  # fmt: skip
TRT_ONLY_FLAGS = ("use_fp8_context_fmha", "weight_sparsity", "weight_streaming", "strip_plan")
# TorchLlmArgs-only fields; TrtLlmArgs (extra="forbid") rejects them.
PYTORCH_ONLY_NONE = (
    "cuda_graphs", "cuda_graph_max_batch_size", "cuda_graph_padding", "disable_overlap_scheduler",
    "attn_backend", "torch_compile", "enable_autotuner", "batch_wait_timeout_ms", "moe_backend",
    "stream_interval", "sampler_type", "batch_wait_timeout_iters", "batch_wait_max_tokens_ratio",
    "cuda_graph_batch_sizes", "speculative_max_concurrency", "enable_min_latency",
)  # fmt: skip
SPEC_SUBSETTINGS = (
    "speculative_model", "eagle_dynamic_tree_top_k", "speculative_max_concurrency", "lookahead_window_size",
    "lookahead_ngram_size", "lookahead_verification_set_size",
)  # fmt: skip


def _trt_only_set(o: TensorRTConfig) -> list[str]:
    names = [f for f in TRT_ONLY_NONE if getattr(o, f) is not None]
    names += [f for f in TRT_ONLY_FLAGS if getattr(o, f)]
    if not o.use_paged_context_fmha:
        names.append("use_paged_context_fmha")
    if o.batching_type == "static":
        names.append("batching_type")
    if o.kv_cache_dtype == "int8":
        names.append("kv_cache_dtype")
    return names


def _pytorch_only_set(o: TensorRTConfig) -> list[str]:
    names = [f for f in PYTORCH_ONLY_NONE if getattr(o, f) is not None]
    if not o.use_custom_all_reduce:
        names.append("use_custom_all_reduce")
    return names


class TensorRTConfig(Section):
    """Settings of the TensorRT-LLM 1.2 backend (engine build and runtime)."""

    __rules__ = (
        custom(
            ("backend",),
            lambda o: o.backend == "pytorch" and bool(_trt_only_set(o)),
            message="TensorRT-engine-only settings are set while backend is pytorch",
            reason="they belong to BuildConfig/PluginConfig or TrtLlmArgs (llm_args.py, builder.py, "
            "plugin.py); the PyTorch runtime builds no engine and its LLM rejects TrtLlmArgs-only arguments",
            resolution="set backend: trt, or remove the engine settings (gemm_plugin, gpt_attention_plugin, "
            "quantization, weight_streaming, batching_type: static, ...)",
        ),
        custom(
            ("backend",),
            lambda o: o.backend == "trt" and bool(_pytorch_only_set(o)),
            message="PyTorch-runtime-only settings are set while backend is trt",
            reason="they are TorchLlmArgs fields (cuda_graph_config, attn_backend, torch_compile_config, "
            "allreduce_strategy, ...) that TrtLlmArgs (extra='forbid') rejects",
            resolution="set backend: pytorch, or remove the PyTorch runtime settings",
        ),
        custom(
            ("use_fp8_context_fmha", "quantization"),
            lambda o: o.use_fp8_context_fmha and o.quantization not in FP8_CONTEXT_FMHA_QUANT,
            message="use_fp8_context_fmha needs quantization fp8, w4a8_awq or nvfp4",
            reason="builder.optimize_model_with_config only turns FP8 context FMHA on for QuantAlgo FP8, "
            "W4A8_AWQ and NVFP4; with any other quantisation the flag is silently ignored",
            resolution="set quantization: fp8 (or w4a8_awq / nvfp4), or use_fp8_context_fmha: false",
        ),
        custom(
            SPEC_SUBSETTINGS,
            lambda o: o.speculative_mode is None and any(getattr(o, f) is not None for f in SPEC_SUBSETTINGS),
            message="speculative decoding settings are set without speculative_mode",
            reason="they configure a *DecodingConfig, which only exists when a speculative mode is chosen",
            resolution="set speculative_mode, or remove the speculative settings",
        ),
        requires(
            ("lookahead_window_size", "lookahead_ngram_size", "lookahead_verification_set_size"),
            "speculative_mode",
            "lookahead",
            reason="they are fields of LookaheadDecodingConfig only",
        ),
        custom(
            ("speculative_model", "speculative_mode"),
            lambda o: o.speculative_mode in SPEC_MODES_NEEDING_MODEL and o.speculative_model is None,
            message="speculative_mode draft_target/eagle/eagle3 needs speculative_model",
            reason="EagleDecodingConfig and DraftTargetDecodingConfig raise 'Draft model must be provided' "
            "without a speculative (draft) model",
            resolution="set speculative_model to the draft or EAGLE checkpoint folder",
        ),
        custom(
            ("speculative_mode", "backend"),
            lambda o: o.speculative_mode is not None and SPEC_MODE_BACKEND[o.speculative_mode] != o.backend,
            message="speculative_mode is not available on this backend (medusa/lookahead/eagle: trt; "
            "eagle3/ngram/mtp/draft_target: pytorch)",
            reason="DecodingBaseConfig.supports_backend() in llm_args.py rejects the combination",
            resolution="pick the backend the speculative mode runs on",
        ),
        custom(
            ("eagle_dynamic_tree_top_k", "speculative_mode"),
            lambda o: (
                o.eagle_dynamic_tree_top_k is not None and o.speculative_mode not in ("eagle", "eagle3")
            ),
            message="eagle_dynamic_tree_top_k needs speculative_mode eagle or eagle3",
            reason="use_dynamic_tree / dynamic_tree_max_topK are fields of EagleDecodingConfig only",
            resolution="set speculative_mode: eagle (trt) or eagle3 (pytorch), or remove "
            "eagle_dynamic_tree_top_k",
        ),
        conflicts(
            "cuda_graph_batch_sizes",
            "cuda_graphs",
            False,
            reason="it configures CudaGraphConfig, which cuda_graphs: false removes (cuda_graph_config=None)",
        ),
        custom(
            ("cuda_graph_max_batch_size", "cuda_graph_batch_sizes"),
            lambda o: (
                o.cuda_graph_max_batch_size is not None
                and bool(o.cuda_graph_batch_sizes)
                and o.cuda_graph_max_batch_size != max(o.cuda_graph_batch_sizes)
            ),
            message="cuda_graph_max_batch_size must equal the largest of cuda_graph_batch_sizes",
            reason="CudaGraphConfig's validator rejects a max_batch_size other than max(batch_sizes)",
            resolution="drop cuda_graph_max_batch_size (it follows from the list) or make them agree",
        ),
        custom(
            ("gemm_swiglu_plugin", "low_latency_gemm_swiglu_plugin", "use_fused_mlp"),
            lambda o: (
                (o.gemm_swiglu_plugin is not None or o.low_latency_gemm_swiglu_plugin is not None)
                and o.use_fused_mlp is False
            ),
            message="gemm_swiglu_plugin / low_latency_gemm_swiglu_plugin need use_fused_mlp",
            reason="builder.optimize_model_with_config raises 'GemmSwiGLU plugin requires --use_fused_mlp "
            "flag'",
            resolution="remove use_fused_mlp: false, or remove gemm_swiglu_plugin",
        ),
        conflicts(
            "cuda_graph_max_batch_size",
            "cuda_graphs",
            False,
            reason="it configures CudaGraphConfig, which cuda_graphs: false removes (cuda_graph_config=None)",
        ),
        conflicts(
            "cuda_graph_padding",
            "cuda_graphs",
            False,
            reason="it configures CudaGraphConfig, which cuda_graphs: false removes (cuda_graph_config=None)",
        ),
        custom(
            ("max_input_len", "max_seq_len"),
            lambda o: (
                o.max_input_len is not None and o.max_seq_len is not None and o.max_input_len > o.max_seq_len
            ),
            message="max_input_len cannot exceed max_seq_len",
            reason="builder._init_max_seq_len silently clips max_input_len to max_seq_len, so the engine "
            "would not be the one configured",
            resolution="lower max_input_len or raise max_seq_len",
        ),
        custom(
            ("beam_search", "max_beam_width"),
            lambda o: o.beam_search and (o.max_beam_width or 1) < 2,
            message="beam_search needs max_beam_width of 2 or more",
            reason="SamplingParams(use_beam_search=True) searches best_of beams, and TensorRT-LLM requires "
            "best_of to equal the LLM's max_beam_width (default 1; a width of 1 is plain greedy decoding)",
            resolution="set max_beam_width to the beam width wanted (2 or more), or remove beam_search",
        ),
        custom(
            ("kv_cache_sink_token_length", "max_attention_window"),
            lambda o: o.kv_cache_sink_token_length is not None and o.max_attention_window is None,
            message="kv_cache_sink_token_length needs max_attention_window",
            reason="sink tokens are the tokens always kept in the attention window "
            "(KvCacheConfig.sink_token_length, StreamingLLM); without a sliding window nothing is ever "
            "dropped, so they change nothing",
            resolution="set max_attention_window (the sliding window), or remove kv_cache_sink_token_length",
        ),
    )

    # -- runtime and sizing ----------------------------------------------------------------------------------
    backend: Annotated[
        Literal["trt", "pytorch"],
        Meta(
            description="TensorRT-LLM runtime: 'trt' compiles a TensorRT engine ahead of time (built once "
            "per build settings, cached) and runs it with the C++ executor; 'pytorch' runs TensorRT-LLM's "
            "PyTorch runtime (the 1.2 LLM API's own default) with no engine build. llem defaults to 'trt' "
            "because the engine build is what this backend adds over the others."
        ),
    ] = "trt"
    max_batch_size: Annotated[
        _PosInt | None,
        Meta(
            description="Most requests scheduled together (BaseLlmArgs.max_batch_size; engine build limit "
            "on trt). TensorRT-LLM default 2048."
        ),
    ] = None
    max_input_len: Annotated[
        _PosInt | None,
        Meta(description="Longest prompt in tokens the engine accepts (TensorRT-LLM default 1024)."),
    ] = None
    max_seq_len: Annotated[
        _PosInt | None,
        Meta(
            description="Longest prompt + output in tokens (default: from the model's "
            "max_position_embeddings)."
        ),
    ] = None
    max_num_tokens: Annotated[
        _PosInt | None,
        Meta(
            description="Most tokens (after padding removal) in one engine step; bounds prefill chunking and "
            "activation memory (TensorRT-LLM default 8192)."
        ),
    ] = None
    opt_num_tokens: Annotated[
        _PosInt | None,
        Meta(
            description="Token count the TensorRT optimisation profile is tuned for (BuildConfig; trt only)."
        ),
    ] = None
    opt_batch_size: Annotated[
        _PosInt | None,
        Meta(
            description="Batch size the TensorRT optimisation profile is tuned for (BuildConfig, default 8; "
            "trt only)."
        ),
    ] = None
    tensor_parallel_size: Annotated[
        _PosInt | None, Meta(description="GPUs per tensor-parallel group (default 1).")
    ] = None
    pipeline_parallel_size: Annotated[
        _PosInt | None, Meta(description="Pipeline-parallel stages (default 1).")
    ] = None
    context_parallel_size: Annotated[
        _PosInt | None,
        Meta(description="Context-parallel size (splits long sequences across GPUs; default 1)."),
    ] = None
    moe_cluster_parallel_size: Annotated[
        _PosInt | None, Meta(description="Cluster-parallel size for MoE expert weights (default: derived).")
    ] = None
    moe_expert_parallel_size: Annotated[
        _PosInt | None, Meta(description="Expert-parallel size for MoE expert weights (default: derived).")
    ] = None
    moe_tensor_parallel_size: Annotated[
        _PosInt | None, Meta(description="Tensor-parallel size for MoE expert weights (default: derived).")
    ] = None
    max_beam_width: Annotated[
        _PosInt | None,
        Meta(
            description="Beams reserved per request (BaseLlmArgs.max_beam_width, default 1; on trt also "
            "BuildConfig.max_beam_width, an engine build limit the runtime must match). Each beam "
            "holds its own KV cache and decoder state, so a width above 1 shrinks the batch that "
            "fits even when no request searches; beam_search uses the full width."
        ),
    ] = None
    beam_search: Annotated[
        bool,
        Meta(
            description="Decode by beam search over max_beam_width beams, returning the best one "
            "(SamplingParams use_beam_search=True, best_of=max_beam_width, n=1: every beam is computed, one "
            "sequence is counted). The decoder's sampling settings (greedy top_k, temperature, top_p, min_p) "
            "are not sent: beam search replaces them. TensorRT-LLM 1.0's docs also required "
            "disable_overlap_scheduler and cuda_graphs: false on the pytorch runtime for beam search."
        ),
    ] = False
    enable_attention_dp: Annotated[
        bool | None,
        Meta(description="Attention data parallelism across the tensor-parallel GPUs (default false)."),
    ] = None

    # -- quantisation ----------------------------------------------------------------------------------------
    quantization: Annotated[
        Quantization | None,
        Meta(
            description="Weight/activation quantisation applied while building the engine "
            "(QuantConfig.quant_algo; trt only: the 1.2 PyTorch runtime reads quantisation from a "
            "pre-quantised checkpoint instead). fp8*: Ada/Hopper (compute capability 8.9+), "
            "fp8_block_scales: Hopper 9.0+, w4a8_awq: FP8 activations (8.9+), nvfp4: Blackwell 10.0+. "
            "int8_sq, int4_awq, fp8 and w4a8_awq calibrate with ModelOpt (a calibration dataset is read at "
            "build time).",
            extra=gpu(
                values={
                    "fp8": 8.9,
                    "fp8_per_channel_per_token": 8.9,
                    "fp8_block_scales": 9.0,
                    "w4a8_awq": 8.9,
                    "nvfp4": 10.0,
                }
            ),
        ),
    ] = None
    kv_cache_dtype: Annotated[
        Literal["fp8", "int8", "nvfp4"] | None,
        Meta(
            description="KV cache quantisation. trt: QuantConfig.kv_cache_quant_algo (the engine flow "
            "asserts KvCacheConfig.dtype == 'auto'); pytorch: KvCacheConfig.dtype (fp8, nvfp4; int8 is "
            "engine-only). fp8 needs Ada/Hopper (8.9+), nvfp4 Blackwell (10.0+). None: model dtype.",
            extra=gpu(values={"fp8": 8.9, "nvfp4": 10.0}),
        ),
    ] = None
    quant_group_size: Annotated[
        _PosInt | None,
        Meta(
            description="Group size of group-wise weight quantisation (QuantConfig.group_size, default 128; "
            "int4_awq / gptq / w4a8_awq)."
        ),
    ] = None

    # -- KV cache (KvCacheConfig) ----------------------------------------------------------------------------
    free_gpu_memory_fraction: Annotated[
        Annotated[float, Meta(ge=0.0, le=1.0)] | None,
        Meta(description="Fraction of free GPU memory (after weights) given to the KV cache (default 0.9)."),
    ] = None
    kv_cache_max_tokens: Annotated[
        _PosInt | None,
        Meta(
            description="Cap on tokens held in the KV cache (KvCacheConfig.max_tokens; the smaller of this "
            "and free_gpu_memory_fraction wins)."
        ),
    ] = None
    enable_block_reuse: Annotated[
        bool | None,
        Meta(
            description="Reuse KV cache blocks across requests sharing a prefix (default true). Warm-up "
            "prompts that equal measured ones would make measured prefill nearly free."
        ),
    ] = None
    enable_partial_reuse: Annotated[
        bool | None, Meta(description="Reuse partially matched KV blocks (default true).")
    ] = None
    copy_on_partial_reuse: Annotated[
        bool | None,
        Meta(
            description="Copy partially matched KV blocks that are in use so they can be reused "
            "(default true)."
        ),
    ] = None
    kv_cache_max_gpu_bytes: Annotated[
        _NonNegInt | None,
        Meta(
            description="Cap on GPU bytes for the KV cache (KvCacheConfig.max_gpu_total_bytes; the "
            "smaller of this and free_gpu_memory_fraction wins; default none)."
        ),
    ] = None
    kv_cache_host_cache_size: Annotated[
        _NonNegInt | None,
        Meta(
            description="Bytes of host memory for offloaded KV blocks (KvCacheConfig.host_cache_size; "
            "default none)."
        ),
    ] = None
    tokens_per_block: Annotated[
        _PosInt | None,
        Meta(
            description="Tokens per paged KV cache block (PluginConfig.tokens_per_block on trt, "
            "KvCacheConfig.tokens_per_block on pytorch; default 32)."
        ),
    ] = None
    kv_cache_use_uvm: Annotated[
        bool | None,
        Meta(
            description="Allocate the KV cache in CUDA unified (managed) memory (KvCacheConfig.use_uvm, "
            "default false): pages can migrate between GPU and host over the host link, which "
            "changes throughput and energy per token."
        ),
    ] = None
    kv_cache_sink_token_length: Annotated[
        _NonNegInt | None,
        Meta(
            description="StreamingLLM sink tokens: the first tokens always kept in the sliding "
            "attention window (KvCacheConfig.sink_token_length; also builds the engine "
            "with PluginConfig.streamingllm). Needs max_attention_window. trt only."
        ),
    ] = None
    max_attention_window: Annotated[
        _PosInt | None,
        Meta(
            description="Sliding attention window in tokens for every layer (KvCacheConfig."
            "max_attention_window; default: full sequence)."
        ),
    ] = None

    # -- scheduling (SchedulerConfig, batching) --------------------------------------------------------------
    capacity_scheduler_policy: Annotated[
        Literal["max_utilization", "guaranteed_no_evict", "static_batch"] | None,
        Meta(
            description="How many requests the scheduler admits: max_utilization packs the batch and may "
            "pause requests, guaranteed_no_evict (default) reserves KV for whole requests, static_batch "
            "waits for a batch to finish."
        ),
    ] = None
    context_chunking_policy: Annotated[
        Literal["first_come_first_served", "equal_progress"] | None,
        Meta(description="Order of prefill chunks when chunked prefill is on (default: none)."),
    ] = None
    enable_chunked_prefill: Annotated[
        bool | None, Meta(description="Split long prefills into chunks of max_num_tokens (default false).")
    ] = None
    dynamic_batch_size_tuning: Annotated[
        bool | None,
        Meta(
            description="DynamicBatchConfig.enable_batch_size_tuning: tune the batch size at "
            "runtime (trt only)."
        ),
    ] = None
    dynamic_max_num_tokens_tuning: Annotated[
        bool | None, Meta(description="DynamicBatchConfig.enable_max_num_tokens_tuning (trt only).")
    ] = None
    dynamic_batch_window: Annotated[
        _PosInt | None,
        Meta(description="DynamicBatchConfig.dynamic_batch_moving_average_window (default 128; trt only)."),
    ] = None
    batching_type: Annotated[
        Literal["inflight", "static"],
        Meta(
            description="Batching strategy (TrtLlmArgs.batching_type): 'inflight' is continuous batching, "
            "'static' runs fixed batches to completion (trt only)."
        ),
    ] = "inflight"

    # -- engine build (BuildConfig / PluginConfig; trt only) -------------------------------------------------
    gemm_plugin: Annotated[
        PluginDtype | None,
        Meta(
            description="cuBLASLt GEMM plugin precision; 'auto' = model dtype, 'disable' = TensorRT's own "
            "GEMM kernels (PluginConfig.gemm_plugin, 1.2 default: disabled). trt only."
        ),
    ] = None
    gpt_attention_plugin: Annotated[
        PluginDtype | None,
        Meta(
            description="GPT attention plugin precision (PluginConfig default 'auto'); 'disable' turns it "
            "off. trt only."
        ),
    ] = None
    gemm_swiglu_plugin: Annotated[
        Literal["fp8"] | None,
        Meta(
            description="Fused GEMM + SwiGLU kernel for gated MLPs (PluginConfig.gemm_swiglu_plugin): FP8 on "
            "Hopper (9.0+) only. trt only.",
            extra=gpu(values={"fp8": 9.0}),
        ),
    ] = None
    low_latency_gemm_plugin: Annotated[
        Literal["fp8"] | None,
        Meta(
            description="FP8 GEMM plugin tuned for small-batch latency "
            "(PluginConfig.low_latency_gemm_plugin; Ada/Hopper 8.9+). trt only.",
            extra=gpu(values={"fp8": 8.9}),
        ),
    ] = None
    low_latency_gemm_swiglu_plugin: Annotated[
        Literal["fp8"] | None,
        Meta(
            description="Low-latency fused GEMM + SwiGLU (PluginConfig.low_latency_gemm_swiglu_plugin; FP8, "
            "Hopper 9.0+). trt only.",
            extra=gpu(values={"fp8": 9.0}),
        ),
    ] = None
    paged_kv_cache: Annotated[
        bool | None,
        Meta(
            description="Paged KV cache in the engine (PluginConfig.paged_kv_cache; default true, false = "
            "one contiguous cache per request). trt only."
        ),
    ] = None
    context_fmha: Annotated[
        bool | None,
        Meta(
            description="Fused multi-head attention for the context phase (PluginConfig, default true). trt "
            "only."
        ),
    ] = None
    use_paged_context_fmha: Annotated[
        bool,
        Meta(
            description="Paged KV cache in context FMHA: enables KV block reuse and chunked prefill "
            "(PluginConfig.use_paged_context_fmha). trt only."
        ),
    ] = True
    use_fp8_context_fmha: Annotated[
        bool,
        Meta(
            description="FP8 context FMHA (PluginConfig.use_fp8_context_fmha). Needs Hopper (compute "
            "capability 9.0+) and quantization fp8, w4a8_awq or nvfp4. llem defaults it off (TensorRT-LLM "
            "1.2 defaults on, acting only with those quantisations). trt only.",
            extra=gpu(min_cc=9.0),
        ),
    ] = False
    remove_input_padding: Annotated[
        bool | None,
        Meta(description="Pack tokens of different requests without padding (default true). trt only."),
    ] = None
    multiple_profiles: Annotated[
        bool | None,
        Meta(
            description="Several TensorRT optimisation profiles (better kernels per shape, longer build; "
            "default false). trt only."
        ),
    ] = None
    use_fused_mlp: Annotated[
        bool | None, Meta(description="Fuse the two gated-MLP GEMMs (default true). trt only.")
    ] = None
    reduce_fusion: Annotated[
        bool | None,
        Meta(
            description="Fuse ResidualAdd + norm after all-reduce (multi-GPU Llama; default false). trt only."
        ),
    ] = None
    weight_sparsity: Annotated[
        bool,
        Meta(
            description="Build with TensorRT sparse weights (BuilderFlag.SPARSE_WEIGHTS): only helps a model "
            "pruned to 2:4 structured sparsity, on Ampere or newer (8.0+). trt only.",
            extra=gpu(min_cc=8.0, note="needs a 2:4 structured-sparse model"),
        ),
    ] = False
    weight_streaming: Annotated[
        bool,
        Meta(
            description="Build an engine whose weights can stream from host memory "
            "(BuilderFlag.WEIGHT_STREAMING, strongly typed engines). The 1.2 LLM API sets no streaming "
            "budget, so weights stay resident. trt only."
        ),
    ] = False
    strip_plan: Annotated[
        bool,
        Meta(
            description="Strip weights from the engine plan (BuildConfig.use_strip_plan): smaller artifact, "
            "weights refitted at load. trt only."
        ),
    ] = False
    embedding_parallel_mode: Annotated[
        Literal["NONE", "SHARDING_ALONG_VOCAB", "SHARDING_ALONG_HIDDEN"] | None,
        Meta(
            description="How tensor parallelism shards the embedding table (TrtLlmArgs, default "
            "SHARDING_ALONG_VOCAB). trt only."
        ),
    ] = None
    fast_build: Annotated[
        bool | None,
        Meta(
            description="Skip some build-time optimisations for a faster build (TrtLlmArgs.fast_build). trt "
            "only."
        ),
    ] = None
    use_custom_all_reduce: Annotated[
        bool,
        Meta(
            description="Custom all-reduce kernels for multi-GPU (true: TensorRT-LLM's AUTO strategy picks "
            "them). false forces NCCL, which only the PyTorch runtime can express (allreduce_strategy: "
            "NCCL); TensorRT-LLM 1.2's PluginConfig has no use_custom_all_reduce."
        ),
    ] = True

    # -- engine runtime knobs (ExtendedRuntimePerfKnobConfig; trt only) --------------------------------------
    multi_block_mode: Annotated[
        bool | None,
        Meta(
            description="Split long-sequence decode attention across thread blocks (default true). trt only."
        ),
    ] = None
    enable_context_fmha_fp32_acc: Annotated[
        bool | None, Meta(description="FP32 accumulation in context FMHA (default false). trt only.")
    ] = None
    cuda_graph_mode: Annotated[
        bool | None,
        Meta(
            description="Replay decode steps as CUDA graphs in the engine runtime (default false). trt only."
        ),
    ] = None
    cuda_graph_cache_size: Annotated[
        _NonNegInt | None, Meta(description="CUDA graphs kept by the engine runtime (default 0). trt only.")
    ] = None

    # -- PyTorch runtime (TorchLlmArgs; pytorch only) --------------------------------------------------------
    cuda_graphs: Annotated[
        bool | None,
        Meta(
            description="CUDA graphs for decode steps (TorchLlmArgs.cuda_graph_config; default on). pytorch "
            "only."
        ),
    ] = None
    cuda_graph_max_batch_size: Annotated[
        _PosInt | None,
        Meta(
            description="Largest batch captured as a CUDA graph (CudaGraphConfig.max_batch_size, "
            "default 128). pytorch only."
        ),
    ] = None
    cuda_graph_batch_sizes: Annotated[
        list[Annotated[int, Meta(ge=1)]] | None,
        Meta(
            description="Batch sizes captured as CUDA graphs (CudaGraphConfig.batch_sizes; default: "
            "generated up to cuda_graph_max_batch_size). pytorch only.",
            examples=[[1, 2, 4, 8]],
        ),
    ] = None
    cuda_graph_padding: Annotated[
        bool | None,
        Meta(description="Pad batches up to a captured size (CudaGraphConfig.enable_padding). pytorch only."),
    ] = None
    disable_overlap_scheduler: Annotated[
        bool | None,
        Meta(description="Turn off overlapping host scheduling with GPU work (default false). pytorch only."),
    ] = None
    attn_backend: Annotated[
        Literal["TRTLLM", "FLASHINFER", "VANILLA"] | None,
        Meta(description="Attention kernels of the PyTorch runtime (default TRTLLM). pytorch only."),
    ] = None
    torch_compile: Annotated[
        bool | None, Meta(description="torch.compile the model (TorchCompileConfig defaults). pytorch only.")
    ] = None
    enable_autotuner: Annotated[
        bool | None, Meta(description="Autotune tunable kernels at start-up (default true). pytorch only.")
    ] = None
    batch_wait_timeout_ms: Annotated[
        Annotated[float, Meta(ge=0.0)] | None,
        Meta(description="Wait up to this long to fill max_batch_size (default 0). pytorch only."),
    ] = None
    batch_wait_timeout_iters: Annotated[
        _NonNegInt | None,
        Meta(
            description="Scheduler iterations to wait for more requests before running a batch "
            "(default 0). pytorch only."
        ),
    ] = None
    batch_wait_max_tokens_ratio: Annotated[
        Annotated[float, Meta(ge=0.0, le=1.0)] | None,
        Meta(
            description="Accumulate requests until this fraction of max_num_tokens is queued (default 0 = "
            "off). pytorch only."
        ),
    ] = None
    sampler_type: Annotated[
        Literal["auto", "TorchSampler", "TRTLLMSampler"] | None,
        Meta(
            description="Token sampler of the PyTorch runtime (default auto: TorchSampler unless beam "
            "search). pytorch only."
        ),
    ] = None
    stream_interval: Annotated[
        _PosInt | None,
        Meta(
            description="Iterations between streamed responses (default 1); larger values cut host work per "
            "token but coarsen per-token timing. pytorch only."
        ),
    ] = None
    enable_min_latency: Annotated[
        bool | None,
        Meta(
            description="Min-latency mode of the PyTorch runtime (TorchLlmArgs.enable_min_latency, "
            "default false): 1.2 uses it only in Llama 4 models (min-latency kernels); other "
            "models ignore it. pytorch only."
        ),
    ] = None
    moe_backend: Annotated[
        Literal["AUTO", "CUTLASS", "TRTLLM", "DEEPGEMM", "TRITON", "VANILLA"] | None,
        Meta(description="MoE kernels (MoeConfig.backend, default AUTO; MoE models only). pytorch only."),
    ] = None

    # -- speculative decoding --------------------------------------------------------------------------------
    speculative_mode: Annotated[
        SpeculativeMode | None,
        Meta(
            description="Speculative decoding algorithm (speculative_config). trt: eagle, medusa, lookahead; "
            "pytorch: eagle3, draft_target, ngram, mtp. None: off."
        ),
    ] = None
    max_draft_len: Annotated[
        int,
        Meta(
            ge=1,
            le=20,
            description="Draft tokens proposed per step, i.e. the number of draft tokens (DecodingBaseConfig"
            ".max_draft_len; for mtp the number of MTP modules; lookahead derives its own). "
            "Used only when speculative_mode is set.",
        ),
    ] = 5
    eagle_dynamic_tree_top_k: Annotated[
        _PosInt | None,
        Meta(
            description="EAGLE-2 dynamic draft tree: candidates expanded per draft layer "
            "(EagleDecodingConfig.use_dynamic_tree + dynamic_tree_max_topK)."
        ),
    ] = None
    speculative_max_concurrency: Annotated[
        _PosInt | None,
        Meta(
            description="Turn speculation off above this many concurrent requests "
            "(DecodingBaseConfig.max_concurrency, PyTorch backend only)."
        ),
    ] = None
    speculative_model: Annotated[
        str | None,
        Meta(
            description="Draft / EAGLE / Medusa checkpoint folder (speculative_model).",
            examples=["/models/eagle-draft"],
        ),
    ] = None
    lookahead_window_size: Annotated[
        _PosInt | None,
        Meta(description="LookaheadDecodingConfig.max_window_size (n-grams per lookahead branch)."),
    ] = None
    lookahead_ngram_size: Annotated[
        _PosInt | None, Meta(description="LookaheadDecodingConfig.max_ngram_size (tokens per n-gram).")
    ] = None
    lookahead_verification_set_size: Annotated[
        _PosInt | None, Meta(description="LookaheadDecodingConfig.max_verification_set_size.")
    ] = None

    # -- escape hatches --------------------------------------------------------------------------------------
    extra_build_args: Annotated[
        dict[str, Any] | None,
        Meta(
            description="Escape hatch: kwargs passed directly to trtllm-build without validation (here: "
            "BuildConfig fields; a 'plugin_config' dict goes to PluginConfig). Use for undocumented "
            "build-time parameters. Merged last, recorded in the result as unvalidated. trt only.",
            examples=[{"profiling_verbosity": "detailed"}],
            extra=escape_hatch(),
        ),
    ] = None
    extra_runtime_args: Annotated[
        dict[str, Any] | None,
        Meta(
            description="Escape hatch: kwargs passed directly to the TRT-LLM executor without validation "
            "(here: extra LLM(...) keyword arguments). Use for undocumented runtime parameters. Merged last, "
            "recorded in the result as unvalidated.",
            examples=[{"iter_stats_max_iterations": 100}],
            extra=escape_hatch(),
        ),
    ] = None
