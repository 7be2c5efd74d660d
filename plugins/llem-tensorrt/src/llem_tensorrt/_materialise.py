"""The plain-data description (`_translate.describe`) -> real tensorrt_llm objects. Imports tensorrt_llm.

Kept thin on purpose: every decision lives in `_translate.py`, tested without TensorRT-LLM. Classes come from
`tensorrt_llm.llmapi.llm_args` (where 1.2 defines or imports them: BuildConfig, KvCacheConfig,
SchedulerConfig, CapacitySchedulerPolicy, ContextChunkingPolicy, DynamicBatchConfig, QuantConfig, QuantAlgo,
BatchingType, ExtendedRuntimePerfKnobConfig, CudaGraphConfig, TorchCompileConfig, MoeConfig and the
*DecodingConfig classes), SamplingParams from `tensorrt_llm.sampling_params`, the LLM classes from
`tensorrt_llm.llmapi.llm`.
"""

from __future__ import annotations

from typing import Any

from llem_tensorrt._translate import NESTED


def llm_class(backend: str) -> Any:
    """The LLM API class of a runtime: `_TrtLLM` (engine flow; what `tensorrt_llm._tensorrt_engine.LLM` names)
    or the default `LLM` (PyTorch runtime in 1.2)."""
    from tensorrt_llm.llmapi import llm as llm_module

    return llm_module._TrtLLM if backend == "trt" else llm_module.LLM


def llm_kwargs(desc: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `LLM(model=..., **kwargs)`: plain kwargs plus the nested config objects."""
    from tensorrt_llm.llmapi import llm_args as la

    kw = dict(desc["llm_kwargs"])
    if isinstance(kw.get("batching_type"), str):
        kw["batching_type"] = la.BatchingType[kw["batching_type"]]
    for key in NESTED:
        data = desc.get(key)
        if data is None or key in kw:  # a key the escape hatch set wins
            continue
        kw[key] = _BUILDERS[key](la, dict(data))
    return kw


def _build_config(la: Any, d: dict[str, Any]) -> Any:
    plugin = d.pop("plugin_config", {})
    bc = la.BuildConfig(**d)
    # Attribute assignment works for both PluginConfig shapes seen in 1.x (dataclass with
    # properties, pydantic).
    for name, value in plugin.items():
        setattr(bc.plugin_config, name, value)
    return bc


def _scheduler(la: Any, d: dict[str, Any]) -> Any:
    if "capacity_scheduler_policy" in d:
        d["capacity_scheduler_policy"] = la.CapacitySchedulerPolicy[d["capacity_scheduler_policy"]]
    if "context_chunking_policy" in d:
        d["context_chunking_policy"] = la.ContextChunkingPolicy[d["context_chunking_policy"]]
    if "dynamic_batch_config" in d:
        d["dynamic_batch_config"] = la.DynamicBatchConfig(**d["dynamic_batch_config"])
    return la.SchedulerConfig(**d)


def _quant(la: Any, d: dict[str, Any]) -> Any:
    for key in ("quant_algo", "kv_cache_quant_algo"):
        if key in d:
            d[key] = la.QuantAlgo[d[key]]
    return la.QuantConfig(**d)


_BUILDERS = {
    "build_config": _build_config,
    "kv_cache_config": lambda la, d: la.KvCacheConfig(**d),
    "scheduler_config": _scheduler,
    "quant_config": _quant,
    "speculative_config": lambda la, d: getattr(la, d["class"])(**d["kwargs"]),
    "extended_runtime_perf_knob_config": lambda la, d: la.ExtendedRuntimePerfKnobConfig(**d),
    "cuda_graph_config": lambda la, d: la.CudaGraphConfig(**d),
    "torch_compile_config": lambda la, d: la.TorchCompileConfig(**d),
    "moe_config": lambda la, d: la.MoeConfig(**d),
}


def sampling_params(kwargs: dict[str, Any]) -> Any:
    from tensorrt_llm.sampling_params import SamplingParams

    return SamplingParams(**kwargs)
