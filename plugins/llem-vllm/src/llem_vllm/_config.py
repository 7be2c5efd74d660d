"""The `vllm:` section of the experiment config: vLLM's energy-relevant engine and sampling knobs, validated.

Every field defaults to None, meaning "vLLM's own default": a field left None produces no keyword argument at
all (see _kwargs.py, which also says which vLLM argument each field becomes). Names follow vLLM's own
(EngineArgs, SamplingParams, SpeculativeConfig, CompilationConfig) so its docs apply;
tests/vllm/test_vllm_drift.py fails when a vLLM release renames or drops one. Choices are the subset of vLLM's
Literal lists that llem can describe; the same test asserts each is still in vLLM's list.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from llem.config.base import Section, escape_hatch, gpu
from llem.config.rules import conflicts, custom
from msgspec import Meta

# vllm.config.cache.CacheDType (subset: the dtypes whose hardware needs are documented).
KVCacheDType = Literal["auto", "float16", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2"]
_FP8_KV = ("fp8", "fp8_e4m3", "fp8_e5m2")

# vllm.model_executor.layers.quantization.QuantizationMethods (all of them except "online", which needs a
# quantization_config dict: give that through extra_runtime_args).
Quantization = Literal[
    "awq", "auto_awq", "fp8", "fbgemm_fp8", "fp_quant", "modelopt", "modelopt_fp4", "modelopt_mxfp8",
    "modelopt_mixed", "auto_gptq", "gptq", "gptq_marlin", "awq_marlin", "humming", "compressed-tensors",
    "experts_int8", "quark", "moe_wna16", "torchao", "inc", "mxfp4", "gpt_oss_mxfp4", "deepseek_v4_fp8",
    "fp8_per_tensor", "fp8_per_block", "fp8_per_channel", "int8_per_channel_weight_only", "nvfp4_per_token",
    "mxfp8",
]  # fmt: skip
# Requirements llem can state with confidence; vLLM itself refuses the other methods where they cannot run.
_QUANT_CC = {
    "fp8": 8.0, "fbgemm_fp8": 8.0, "fp8_per_tensor": 8.0, "fp8_per_block": 8.0, "fp8_per_channel": 8.0,
    "gptq_marlin": 8.0, "awq_marlin": 8.0, "modelopt": 8.9, "modelopt_fp4": 10.0, "nvfp4_per_token": 10.0,
}  # fmt: skip

# vllm.config.parallel.DistributedExecutorBackend, less "external_launcher" (needs processes llem
# does not launch).
ExecutorBackend = Literal["mp", "ray", "uni"]

# vllm.config.speculative.SpeculativeMethod (the methods that need no custom class).
SpeculativeMethod = Literal[
    "ngram", "ngram_gpu", "suffix", "draft_model", "eagle", "eagle3", "medusa", "mlp_speculator", "mtp",
]  # fmt: skip
_NEEDS_DRAFT_MODEL = ("draft_model", "eagle", "eagle3", "medusa", "mlp_speculator")
_PROMPT_LOOKUP = ("ngram", "ngram_gpu")

# vllm.config.compilation.CompilationMode / CUDAGraphMode member names (vLLM parses them case-insensitively).
CompilationMode = Literal["none", "stock_torch_compile", "dynamo_trace_once", "vllm_compile"]
CudaGraphMode = Literal["none", "piecewise", "full", "full_decode_only", "full_and_piecewise"]
PerformanceMode = Literal["balanced", "interactivity", "throughput"]  # vllm.config.vllm.PerformanceMode
OptimizationLevel = Literal[0, 1, 2, 3]  # vllm.config.vllm.OptimizationLevel (an IntEnum)

_POS = Meta(ge=1)

_SPEC_FIELDS = ("speculative_model", "num_speculative_tokens", "prompt_lookup_min", "prompt_lookup_max")


def _speculating(o: VLLMConfig) -> bool:
    return o.speculative_method is not None or o.speculative_model is not None


class VLLMConfig(Section):
    """vLLM (offline `vllm.LLM`): engine, scheduler, KV cache, parallelism, speculative decoding, compilation
    and sampling settings."""

    __rules__ = (
        custom(
            _SPEC_FIELDS,
            lambda o: (
                not _speculating(o)
                and any(getattr(o, f) is not None for f in _SPEC_FIELDS if f != "speculative_model")
            ),
            message="num_speculative_tokens/prompt_lookup_min/prompt_lookup_max need speculative_method "
            "(or speculative_model)",
            reason="speculative settings only take effect when speculative decoding is on; vLLM builds no "
            "speculative config without a method or draft model",
            resolution="set speculative_method (and speculative_model where the method needs "
            "one), or remove them",
        ),
        custom(
            ("speculative_method", "num_speculative_tokens"),
            lambda o: _speculating(o) and o.num_speculative_tokens is None and o.speculative_method != "mtp",
            message="speculative decoding needs num_speculative_tokens",
            reason="vLLM raises 'num_speculative_tokens was provided but without speculative model' / "
            "takes it from the draft model's config only for some methods; llem asks for it so the run "
            "says what it measured",
            resolution="set num_speculative_tokens (e.g. 3-5)",
        ),
        custom(
            ("speculative_method", "speculative_model"),
            lambda o: o.speculative_method in _NEEDS_DRAFT_MODEL and o.speculative_model is None,
            message=f"speculative_method {'/'.join(_NEEDS_DRAFT_MODEL)} needs speculative_model",
            reason="these methods run a draft model (or head) whose weights vLLM must load",
            resolution="set speculative_model to the draft model's hub id or path, or use "
            "speculative_method: ngram",
        ),
        custom(
            ("prompt_lookup_min", "prompt_lookup_max"),
            lambda o: (
                (o.prompt_lookup_min is not None or o.prompt_lookup_max is not None)
                and o.speculative_method not in _PROMPT_LOOKUP
            ),
            message="prompt_lookup_min/prompt_lookup_max need speculative_method: ngram (or ngram_gpu)",
            reason="only the n-gram proposer looks up draft tokens in the prompt",
            resolution="set speculative_method: ngram, or remove prompt_lookup_min/prompt_lookup_max",
        ),
        custom(
            ("prompt_lookup_min", "prompt_lookup_max"),
            lambda o: (
                o.prompt_lookup_min is not None
                and o.prompt_lookup_max is not None
                and o.prompt_lookup_min > o.prompt_lookup_max
            ),
            message="prompt_lookup_min cannot exceed prompt_lookup_max",
            reason="vLLM raises 'prompt_lookup_min must be <= prompt_lookup_max'",
            resolution="lower prompt_lookup_min or raise prompt_lookup_max",
        ),
        conflicts(
            "cudagraph_mode",
            on="enforce_eager",
            value=True,
            reason="enforce_eager turns CUDA graphs off; a CUDA-graph mode alongside it would "
            "not be what ran",
        ),
        conflicts(
            "cudagraph_capture_sizes",
            on="enforce_eager",
            value=True,
            reason="enforce_eager turns CUDA graphs off, so no graph sizes are captured",
        ),
        custom(
            ("multiprocessing", "tensor_parallel_size", "pipeline_parallel_size"),
            lambda o: (
                o.multiprocessing is False
                and (o.tensor_parallel_size or 1) * (o.pipeline_parallel_size or 1) > 1
            ),
            message="multiprocessing: false needs tensor_parallel_size and pipeline_parallel_size of 1",
            reason="an in-process engine runs one worker; vLLM's single-process executor cannot "
            "run several ranks",
            resolution="remove multiprocessing, or set tensor_parallel_size/pipeline_parallel_size to 1",
        ),
    )

    # -- memory and KV cache ---------------------------------------------------------------------------------
    gpu_memory_utilization: Annotated[
        Annotated[float, Meta(gt=0.0, le=1.0)] | None,
        Meta(
            description="Fraction of GPU memory vLLM may use for weights, activations and KV cache (vLLM: "
            "0.92). On CPU it is the fraction of RAM vLLM reserves: give a small value, or "
            "kv_cache_memory_bytes."
        ),
    ] = None
    kv_cache_memory_bytes: Annotated[
        Annotated[int, _POS] | None,
        Meta(description="KV cache size in bytes per worker; overrides gpu_memory_utilization's KV share."),
    ] = None
    kv_cache_dtype: Annotated[
        KVCacheDType | None,
        Meta(
            description="KV cache storage dtype; auto follows the model dtype. fp8 halves KV "
            "memory and traffic.",
            extra=gpu(
                values=dict.fromkeys(_FP8_KV, 8.0),
                note="fp8 KV caches: llem measures them on NVIDIA GPUs (compute capability 8.0+); vLLM's CPU "
                "build stores fp8_e4m3/fp8_e5m2 only on AVX-512/AMX CPUs",
            ),
        ),
    ] = None
    block_size: Annotated[
        Annotated[int, _POS] | None,
        Meta(
            description="Tokens per KV cache block (vLLM picks per attention backend; CPU needs a "
            "multiple of 32)."
        ),
    ] = None
    enable_prefix_caching: Annotated[
        bool | None,
        Meta(
            description="Reuse KV blocks of shared prompt prefixes (vLLM: on). Hits show as "
            "cached_input_tokens; they make prefill nearly free, so compare like with like."
        ),
    ] = None
    cpu_offload_gb: Annotated[
        Annotated[float, Meta(gt=0.0)] | None,
        Meta(
            description="GiB of weights per GPU kept in CPU memory and streamed in each forward "
            "pass (vLLM: 0).",
            extra=gpu(needs_cuda=True),
        ),
    ] = None

    # -- scheduler -------------------------------------------------------------------------------------------
    max_num_seqs: Annotated[
        Annotated[int, _POS] | None,
        Meta(description="Most sequences in one engine step: the continuous-batching batch size ceiling."),
    ] = None
    max_num_batched_tokens: Annotated[
        Annotated[int, _POS] | None,
        Meta(description="Most tokens (prefill + decode) in one engine step."),
    ] = None
    max_model_len: Annotated[
        Annotated[int, _POS] | None,
        Meta(description="Context length (prompt + output); vLLM: the model's. Smaller frees KV cache."),
    ] = None
    enable_chunked_prefill: Annotated[
        bool | None,
        Meta(
            description="Split long prefills into chunks scheduled alongside decodes (vLLM: on "
            "where supported)."
        ),
    ] = None
    async_scheduling: Annotated[
        bool | None,
        Meta(description="Schedule step N+1 while step N runs on the GPU (vLLM decides; off on CPU)."),
    ] = None

    # -- parallelism -----------------------------------------------------------------------------------------
    tensor_parallel_size: Annotated[
        Annotated[int, _POS] | None, Meta(description="GPUs each layer is split across (vLLM: 1).")
    ] = None
    pipeline_parallel_size: Annotated[
        Annotated[int, _POS] | None, Meta(description="Pipeline stages, each on its own GPU(s) (vLLM: 1).")
    ] = None
    distributed_executor_backend: Annotated[
        ExecutorBackend | None,
        Meta(description="How vLLM runs its workers: mp (processes), ray, or uni (one in-process worker)."),
    ] = None
    disable_custom_all_reduce: Annotated[
        bool | None,
        Meta(description="Use NCCL instead of vLLM's custom all-reduce kernel for tensor parallel.",
             extra=gpu(needs_cuda=True)),
    ] = None  # fmt: skip
    multiprocessing: Annotated[
        bool | None,
        Meta(
            description="llem: run vLLM's engine core in its own process (vLLM's default; env "
            "VLLM_ENABLE_V1_MULTIPROCESSING). false runs it inside the llem process: no worker processes, "
            "faster start, host work competes with the engine."
        ),
    ] = None

    # -- quantisation, precision, compilation ----------------------------------------------------------------
    quantization: Annotated[
        Quantization | None,
        Meta(
            description="Weight quantisation method (vLLM: read from the checkpoint's config).",
            extra=gpu(values=_QUANT_CC),
        ),
    ] = None
    enforce_eager: Annotated[
        bool | None,
        Meta(description="Run the model eagerly: no CUDA graphs and no torch.compile (vLLM: false)."),
    ] = None
    compilation_mode: Annotated[
        CompilationMode | None,
        Meta(description="torch.compile level (CompilationConfig.mode); vLLM picks from optimization_level."),
    ] = None
    cudagraph_mode: Annotated[
        CudaGraphMode | None,
        Meta(
            description="Which steps replay CUDA graphs (CompilationConfig.cudagraph_mode).",
            extra=gpu(needs_cuda=("piecewise", "full", "full_decode_only", "full_and_piecewise")),
        ),
    ] = None
    cudagraph_capture_sizes: Annotated[
        list[Annotated[int, _POS]] | None,
        Meta(description="Batch sizes to capture CUDA graphs for.", examples=[[1, 2, 4, 8]],
             extra=gpu(needs_cuda=True)),
    ] = None  # fmt: skip
    max_cudagraph_capture_size: Annotated[
        Annotated[int, _POS] | None,
        Meta(description="Largest batch captured as a CUDA graph.", extra=gpu(needs_cuda=True)),
    ] = None
    optimization_level: Annotated[
        OptimizationLevel | None,
        Meta(description="vLLM's optimisation preset: 0 none (fast start) ... 3 most compilation (vLLM: 2)."),
    ] = None
    performance_mode: Annotated[
        PerformanceMode | None,
        Meta(description="vLLM's tuning preset for latency (interactivity) or throughput (vLLM: balanced)."),
    ] = None
    seed: Annotated[
        Annotated[int, Meta(ge=0)] | None,
        Meta(description="Engine seed; None uses the experiment's random_seed (vLLM's own default is 0)."),
    ] = None

    # -- speculative decoding (SpeculativeConfig) ------------------------------------------------------------
    speculative_method: Annotated[
        SpeculativeMethod | None,
        Meta(description="Speculative decoding method; ngram and suffix need no draft model."),
    ] = None
    speculative_model: Annotated[
        str | None,
        Meta(
            description="Draft model (or EAGLE/Medusa head): hub id or path.",
            examples=["path/to/draft-model"],
        ),
    ] = None
    num_speculative_tokens: Annotated[
        Annotated[int, _POS] | None, Meta(description="Draft tokens proposed per step.")
    ] = None
    prompt_lookup_min: Annotated[
        Annotated[int, _POS] | None,
        Meta(description="ngram: shortest n-gram matched in the prompt (vLLM: 5)."),
    ] = None
    prompt_lookup_max: Annotated[
        Annotated[int, _POS] | None,
        Meta(description="ngram: longest n-gram matched in the prompt (vLLM: 5)."),
    ] = None

    # -- sampling (SamplingParams) beyond the shared decoder section -----------------------------------------
    presence_penalty: Annotated[
        Annotated[float, Meta(ge=-2.0, le=2.0)] | None,
        Meta(description="Penalise tokens that already appeared (vLLM: 0)."),
    ] = None
    frequency_penalty: Annotated[
        Annotated[float, Meta(ge=-2.0, le=2.0)] | None,
        Meta(description="Penalise tokens by how often they appeared (vLLM: 0)."),
    ] = None
    ignore_eos: Annotated[
        bool | None,
        Meta(description="Keep generating after end-of-sequence; fixed_output_length: true already sets it."),
    ] = None
    n: Annotated[
        Annotated[int, _POS] | None,
        Meta(description="Completions per prompt; output tokens count all of them (vLLM: 1)."),
    ] = None
    sampling_seed: Annotated[
        Annotated[int, Meta(ge=0)] | None,
        Meta(
            description="SamplingParams.seed: each request gets its own seeded generator, so its tokens do "
            "not depend on the rest of the batch (vLLM samples such requests on a slower path)."
        ),
    ] = None

    # -- llem ------------------------------------------------------------------------------------------------
    mode: Annotated[
        Literal["offline", "server"] | None,
        Meta(
            description="llem: offline (None) drives vllm.LLM in the llem process over batches; server "
            "starts vLLM's OpenAI server (the same engine settings, as `vllm serve` flags) on 127.0.0.1 and "
            "measures it under the experiment's load section (docs/serving.md)."
        ),
    ] = None
    server_port: Annotated[
        Annotated[int, Meta(ge=1, le=65535)] | None,
        Meta(description="llem, mode server: the port of the started server (None: a free port)."),
    ] = None
    server_ready_timeout_s: Annotated[
        Annotated[float, Meta(gt=0.0)] | None,
        Meta(description="llem, mode server: how long to wait for the server's /health (None: 600 s)."),
    ] = None
    per_token_timestamps: Annotated[
        bool | None,
        Meta(
            description="llem: stream per-step outputs to record every token's engine timestamp (real ITL "
            "percentiles). Default false: TTFT/e2e from vLLM's request metrics, ITL as each request's mean."
        ),
    ] = None
    extra_runtime_args: Annotated[
        dict[str, Any] | None,
        Meta(
            description="Escape hatch: extra vllm.LLM(...) keyword arguments, merged last, passed "
            "unvalidated and recorded in the result as such.",
            extra=escape_hatch(),
        ),
    ] = None
