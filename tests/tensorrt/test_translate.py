"""TensorRTConfig -> TensorRT-LLM 1.2 LLM API arguments, tested as pure data (tensorrt_llm is never imported).

Every field has a row in FIELD_CASES and every rule a row in RULE_CASES; meta-tests fail when a field or rule
is added without one.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from llem.config.introspect import (
    get_backend_params,
    get_params_requiring_gpu_capability,
    get_validation_rules,
)
from llem.errors import ConfigError
from llem.kit.unvalidated import unvalidated_settings
from llem.plugins.types import DeviceInfo, GpuInfo
from llem.plugins.validate import gpu_requirement_problems
from llem.testing import assert_backend_declarations
from llem_tensorrt._config import PYTORCH_ONLY_NONE, TRT_ONLY_FLAGS, TRT_ONLY_NONE, TensorRTConfig
from llem_tensorrt._translate import describe, engine_key, runtime_llm_kwargs, sampling_kwargs

FIELDS = [f.name for f in msgspec.structs.fields(TensorRTConfig)]
PT = {"backend": "pytorch"}
EAGLE = {"speculative_mode": "eagle", "speculative_model": "/m/eagle"}

MISSING = object()


def _at(desc: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = desc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def translated(config) -> dict[str, Any]:
    """Everything TensorRT-LLM receives: the LLM call (describe) and the SamplingParams of a batch."""
    return {**describe(config), "sampling": sampling_kwargs(config, 32, 5)}


# field -> (companion settings, value, [(path in translated(), expected)])
FIELD_CASES: dict[str, tuple[dict[str, Any], Any, list[tuple[tuple[str, ...], Any]]]] = {
    "backend": ({}, "pytorch", [(("backend",), "pytorch"), (("build_config",), None)]),
    "max_batch_size": (
        {}, 8, [(("llm_kwargs", "max_batch_size"), 8), (("build_config", "max_batch_size"), 8)]
    ),
    "max_input_len": (
        {}, 100, [(("llm_kwargs", "max_input_len"), 100), (("build_config", "max_input_len"), 100)]
    ),
    "max_seq_len": ({}, 300, [(("llm_kwargs", "max_seq_len"), 300), (("build_config", "max_seq_len"), 300)]),
    "max_num_tokens": (
        {}, 512, [(("llm_kwargs", "max_num_tokens"), 512), (("build_config", "max_num_tokens"), 512)]
    ),
    "opt_num_tokens": ({}, 256, [(("build_config", "opt_num_tokens"), 256)]),
    "opt_batch_size": ({}, 4, [(("build_config", "opt_batch_size"), 4)]),
    "tensor_parallel_size": ({}, 2, [(("llm_kwargs", "tensor_parallel_size"), 2)]),
    "pipeline_parallel_size": ({}, 2, [(("llm_kwargs", "pipeline_parallel_size"), 2)]),
    "context_parallel_size": ({}, 2, [(("llm_kwargs", "context_parallel_size"), 2)]),
    "moe_cluster_parallel_size": ({}, 2, [(("llm_kwargs", "moe_cluster_parallel_size"), 2)]),
    "copy_on_partial_reuse": ({}, False, [(("kv_cache_config", "copy_on_partial_reuse"), False)]),
    "kv_cache_max_gpu_bytes": ({}, 2**32, [(("kv_cache_config", "max_gpu_total_bytes"), 2**32)]),
    "gemm_swiglu_plugin": ({}, "fp8", [(("build_config", "plugin_config", "gemm_swiglu_plugin"), "fp8")]),
    "low_latency_gemm_plugin": (
        {}, "fp8", [(("build_config", "plugin_config", "low_latency_gemm_plugin"), "fp8")]
    ),
    "low_latency_gemm_swiglu_plugin": (
        {}, "fp8", [(("build_config", "plugin_config", "low_latency_gemm_swiglu_plugin"), "fp8")]
    ),
    "paged_kv_cache": ({}, False, [(("build_config", "plugin_config", "paged_kv_cache"), False)]),
    "embedding_parallel_mode": ({}, "NONE", [(("llm_kwargs", "embedding_parallel_mode"), "NONE")]),
    "cuda_graph_batch_sizes": (PT, [1, 2, 8], [(("cuda_graph_config", "batch_sizes"), [1, 2, 8])]),
    "batch_wait_timeout_iters": (PT, 3, [(("llm_kwargs", "batch_wait_timeout_iters"), 3)]),
    "batch_wait_max_tokens_ratio": (PT, 0.5, [(("llm_kwargs", "batch_wait_max_tokens_ratio"), 0.5)]),
    "sampler_type": (PT, "TRTLLMSampler", [(("llm_kwargs", "sampler_type"), "TRTLLMSampler")]),
    "speculative_max_concurrency": (
        {"backend": "pytorch", "speculative_mode": "ngram"}, 8,
        [(("speculative_config", "kwargs", "max_concurrency"), 8)],
    ),
    "moe_expert_parallel_size": ({}, 4, [(("llm_kwargs", "moe_expert_parallel_size"), 4)]),
    "moe_tensor_parallel_size": ({}, 2, [(("llm_kwargs", "moe_tensor_parallel_size"), 2)]),
    "enable_attention_dp": ({}, True, [(("llm_kwargs", "enable_attention_dp"), True)]),
    "quantization": ({}, "int4_awq", [(("quant_config", "quant_algo"), "W4A16_AWQ")]),
    "kv_cache_dtype": (
        {}, "fp8", [(("quant_config", "kv_cache_quant_algo"), "FP8"), (("kv_cache_config",), None)]
    ),
    "quant_group_size": ({"quantization": "int4_awq"}, 64, [(("quant_config", "group_size"), 64)]),
    "free_gpu_memory_fraction": ({}, 0.5, [(("kv_cache_config", "free_gpu_memory_fraction"), 0.5)]),
    "kv_cache_max_tokens": ({}, 4096, [(("kv_cache_config", "max_tokens"), 4096)]),
    "enable_block_reuse": ({}, False, [(("kv_cache_config", "enable_block_reuse"), False)]),
    "enable_partial_reuse": ({}, False, [(("kv_cache_config", "enable_partial_reuse"), False)]),
    "kv_cache_host_cache_size": ({}, 2**30, [(("kv_cache_config", "host_cache_size"), 2**30)]),
    "tokens_per_block": ({}, 64, [(("build_config", "plugin_config", "tokens_per_block"), 64)]),
    "max_attention_window": ({}, 1024, [(("kv_cache_config", "max_attention_window"), [1024])]),
    "capacity_scheduler_policy": (
        {}, "max_utilization", [(("scheduler_config", "capacity_scheduler_policy"), "MAX_UTILIZATION")]
    ),
    "context_chunking_policy": (
        {}, "equal_progress", [(("scheduler_config", "context_chunking_policy"), "EQUAL_PROGRESS")]
    ),
    "enable_chunked_prefill": ({}, True, [(("llm_kwargs", "enable_chunked_prefill"), True)]),
    "dynamic_batch_size_tuning": (
        {}, False, [(("scheduler_config", "dynamic_batch_config", "enable_batch_size_tuning"), False)]
    ),
    "dynamic_max_num_tokens_tuning": (
        {}, True, [(("scheduler_config", "dynamic_batch_config", "enable_max_num_tokens_tuning"), True)]
    ),
    "dynamic_batch_window": (
        {}, 64, [(("scheduler_config", "dynamic_batch_config", "dynamic_batch_moving_average_window"), 64)]
    ),
    "batching_type": ({}, "static", [(("llm_kwargs", "batching_type"), "STATIC")]),
    "gemm_plugin": ({}, "float16", [(("build_config", "plugin_config", "gemm_plugin"), "float16")]),
    "gpt_attention_plugin": (
        {}, "disable", [(("build_config", "plugin_config", "gpt_attention_plugin"), "disable")]
    ),
    "context_fmha": ({}, False, [(("build_config", "plugin_config", "context_fmha"), False)]),
    "use_paged_context_fmha": (
        {}, False, [(("build_config", "plugin_config", "use_paged_context_fmha"), False)]
    ),
    "use_fp8_context_fmha": (
        {"quantization": "fp8"}, True, [(("build_config", "plugin_config", "use_fp8_context_fmha"), True)]
    ),
    "remove_input_padding": ({}, False, [(("build_config", "plugin_config", "remove_input_padding"), False)]),
    "multiple_profiles": ({}, True, [(("build_config", "plugin_config", "multiple_profiles"), True)]),
    "use_fused_mlp": ({}, False, [(("build_config", "plugin_config", "use_fused_mlp"), False)]),
    "reduce_fusion": ({}, True, [(("build_config", "plugin_config", "reduce_fusion"), True)]),
    "weight_sparsity": ({}, True, [(("build_config", "weight_sparsity"), True)]),
    "weight_streaming": ({}, True, [(("build_config", "weight_streaming"), True)]),
    "strip_plan": ({}, True, [(("build_config", "use_strip_plan"), True)]),
    "fast_build": ({}, True, [(("llm_kwargs", "fast_build"), True)]),
    "use_custom_all_reduce": (PT, False, [(("llm_kwargs", "allreduce_strategy"), "NCCL")]),
    "multi_block_mode": ({}, False, [(("extended_runtime_perf_knob_config", "multi_block_mode"), False)]),
    "enable_context_fmha_fp32_acc": (
        {}, True, [(("extended_runtime_perf_knob_config", "enable_context_fmha_fp32_acc"), True)]
    ),
    "cuda_graph_mode": ({}, True, [(("extended_runtime_perf_knob_config", "cuda_graph_mode"), True)]),
    "cuda_graph_cache_size": ({}, 4, [(("extended_runtime_perf_knob_config", "cuda_graph_cache_size"), 4)]),
    "cuda_graphs": (PT, False, [(("llm_kwargs", "cuda_graph_config"), None)]),
    "cuda_graph_max_batch_size": (PT, 64, [(("cuda_graph_config", "max_batch_size"), 64)]),
    "cuda_graph_padding": (PT, True, [(("cuda_graph_config", "enable_padding"), True)]),
    "disable_overlap_scheduler": (PT, True, [(("llm_kwargs", "disable_overlap_scheduler"), True)]),
    "attn_backend": (PT, "FLASHINFER", [(("llm_kwargs", "attn_backend"), "FLASHINFER")]),
    "torch_compile": (PT, True, [(("torch_compile_config",), {})]),
    "enable_autotuner": (PT, False, [(("llm_kwargs", "enable_autotuner"), False)]),
    "batch_wait_timeout_ms": (PT, 5.0, [(("llm_kwargs", "batch_wait_timeout_ms"), 5.0)]),
    "stream_interval": (PT, 4, [(("llm_kwargs", "stream_interval"), 4)]),
    "moe_backend": (PT, "CUTLASS", [(("moe_config", "backend"), "CUTLASS")]),
    "speculative_mode": (
        {"speculative_model": "/m/medusa"}, "medusa",
        [(("speculative_config", "class"), "MedusaDecodingConfig"),
         (("speculative_config", "kwargs", "max_draft_len"), 5)],
    ),
    "max_draft_len": (EAGLE, 7, [(("speculative_config", "kwargs", "max_draft_len"), 7)]),
    "eagle_dynamic_tree_top_k": (
        EAGLE, 4,
        [(("speculative_config", "kwargs", "dynamic_tree_max_topK"), 4),
         (("speculative_config", "kwargs", "use_dynamic_tree"), True)],
    ),
    "speculative_model": (
        {"speculative_mode": "eagle"}, "/m/e",
        [(("speculative_config", "kwargs", "speculative_model"), "/m/e")]
    ),
    "lookahead_window_size": (
        {"speculative_mode": "lookahead"}, 4, [(("speculative_config", "kwargs", "max_window_size"), 4)]
    ),
    "lookahead_ngram_size": (
        {"speculative_mode": "lookahead"}, 3, [(("speculative_config", "kwargs", "max_ngram_size"), 3)]
    ),
    "lookahead_verification_set_size": (
        {"speculative_mode": "lookahead"}, 2,
        [(("speculative_config", "kwargs", "max_verification_set_size"), 2)]
    ),
    "max_beam_width": (
        {}, 4, [(("llm_kwargs", "max_beam_width"), 4), (("build_config", "max_beam_width"), 4)]
    ),
    "beam_search": ({"max_beam_width": 4}, True, [(("sampling", "use_beam_search"), True)]),
    "enable_min_latency": (PT, True, [(("llm_kwargs", "enable_min_latency"), True)]),
    "kv_cache_use_uvm": ({}, True, [(("kv_cache_config", "use_uvm"), True)]),
    "kv_cache_sink_token_length": (
        {"max_attention_window": 1024}, 4,
        [(("kv_cache_config", "sink_token_length"), 4),
         (("build_config", "plugin_config", "streamingllm"), True)],
    ),
    "extra_build_args": (
        {}, {"profiling_verbosity": "detailed"}, [(("build_config", "profiling_verbosity"), "detailed")]
    ),
    "extra_runtime_args": (
        {}, {"iter_stats_max_iterations": 100}, [(("llm_kwargs", "iter_stats_max_iterations"), 100)]
    ),
}  # fmt: skip


def test_every_field_has_a_translation_case():
    assert sorted(FIELD_CASES) == sorted(FIELDS)


@pytest.mark.parametrize("field", FIELDS)
def test_field_reaches_the_llm_api(make_config, field):
    companions, value, expectations = FIELD_CASES[field]
    desc = translated(make_config({**companions, field: value}))
    for path, expected in expectations:
        assert _at(desc, path) == expected, f"{field}={value!r}: {path} is {_at(desc, path)!r}"


def test_defaults_add_only_the_seed_defaults(make_config):
    desc = describe(make_config())
    assert desc["llm_kwargs"] == {"dtype": "bfloat16", "batching_type": "INFLIGHT"}
    assert desc["build_config"] == {
        "weight_sparsity": False,
        "weight_streaming": False,
        "use_strip_plan": False,
        "plugin_config": {"use_paged_context_fmha": True, "use_fp8_context_fmha": False},
    }
    others = {
        k: v for k, v in desc.items() if k not in ("backend", "llm_kwargs", "build_config", "unvalidated")
    }
    assert all(v is None for v in others.values()), others
    assert desc["unvalidated"] == {}


def test_pytorch_defaults_pass_nothing_but_dtype(make_config):
    desc = describe(make_config({"backend": "pytorch"}, precision="fp16"))
    assert desc["llm_kwargs"] == {"dtype": "float16"}
    assert all(v is None for k, v in desc.items() if k not in ("backend", "llm_kwargs", "unvalidated"))


NONE_DEFAULT = [f for f in FIELDS if getattr(TensorRTConfig(), f) is None]


@pytest.mark.parametrize("field", NONE_DEFAULT)
def test_field_left_at_none_produces_no_key(make_config, field):
    """Leaving a None field unset must not put its TensorRT-LLM argument anywhere in the call."""
    companions, _value, expectations = FIELD_CASES[field]
    base = describe(make_config({"backend": companions["backend"]} if "backend" in companions else None))
    for path, _ in expectations:
        got = _at(base, path)
        assert got is MISSING or (got is None and path[-1] != "cuda_graph_config"), f"{path} present: {got!r}"


def test_pytorch_kv_cache_dtype_and_block_size_go_to_kv_cache_config(make_config):
    desc = describe(make_config({"backend": "pytorch", "kv_cache_dtype": "fp8", "tokens_per_block": 64}))
    assert desc["kv_cache_config"] == {"dtype": "fp8", "tokens_per_block": 64}
    assert desc["quant_config"] is None and desc["build_config"] is None


def test_mtp_and_lookahead_draft_length_mapping(make_config):
    mtp = describe(make_config({"backend": "pytorch", "speculative_mode": "mtp", "max_draft_len": 3}))
    assert mtp["speculative_config"] == {
        "class": "MTPDecodingConfig",
        "kwargs": {"num_nextn_predict_layers": 3},
    }
    la = describe(make_config({"speculative_mode": "lookahead"}))
    assert la["speculative_config"] == {"class": "LookaheadDecodingConfig", "kwargs": {}}


def test_escape_hatches_merge_last_and_are_recorded(make_config):
    cfg = make_config(
        {
            "gemm_plugin": "auto",
            "max_batch_size": 8,
            "extra_build_args": {"max_batch_size": 16, "plugin_config": {"gemm_plugin": "float16"}},
            "extra_runtime_args": {"max_batch_size": 4, "kv_cache_config": {"free_gpu_memory_fraction": 0.2}},
            "free_gpu_memory_fraction": 0.5,
        },
        passthrough_kwargs={"top_k": 7},
    )
    desc = describe(cfg)
    assert desc["build_config"]["max_batch_size"] == 16
    assert desc["build_config"]["plugin_config"]["gemm_plugin"] == "float16"
    assert desc["llm_kwargs"]["max_batch_size"] == 4
    # a nested config named in extra_runtime_args replaces llem's own
    assert desc["kv_cache_config"] is None
    assert desc["llm_kwargs"]["kv_cache_config"] == {"free_gpu_memory_fraction": 0.2}
    assert unvalidated_settings(cfg) == {
        "tensorrt.extra_build_args": {"max_batch_size": 16, "plugin_config": {"gemm_plugin": "float16"}},
        "tensorrt.extra_runtime_args": {
            "max_batch_size": 4,
            "kv_cache_config": {"free_gpu_memory_fraction": 0.2},
        },
        "passthrough_kwargs": {"top_k": 7},
    }
    assert desc["unvalidated"] == unvalidated_settings(cfg)
    assert sampling_kwargs(cfg, 8, 0)["top_k"] == 7


def test_runtime_kwargs_drop_build_only_pieces(make_config):
    desc = describe(make_config({"quantization": "fp8", "fast_build": True, "free_gpu_memory_fraction": 0.5}))
    rt = runtime_llm_kwargs(desc)
    assert "build_config" not in rt
    assert "quant_config" not in rt and "fast_build" not in rt["llm_kwargs"]
    assert rt["kv_cache_config"] == {"free_gpu_memory_fraction": 0.5}


def test_engine_key_follows_build_settings_not_runtime_settings(make_config):
    base = engine_key(make_config(), "1.2.0")
    assert engine_key(make_config({"free_gpu_memory_fraction": 0.3}), "1.2.0") == base
    assert engine_key(make_config({"capacity_scheduler_policy": "max_utilization"}), "1.2.0") == base
    assert engine_key(make_config({"max_batch_size": 16}), "1.2.0") != base
    assert engine_key(make_config({"gemm_plugin": "auto"}), "1.2.0") != base
    assert engine_key(make_config(precision="fp16"), "1.2.0") != base
    assert engine_key(make_config(random_seed=1), "1.2.0") != base
    assert engine_key(make_config(), "1.2.1") != base


# -- sampling ------------------------------------------------------------------------------------------------
def test_greedy_fixed_length_sampling(make_config):
    kw = sampling_kwargs(make_config(decoder={"preset": "deterministic"}), 32, 5)
    assert kw == {"max_tokens": 32, "detokenize": False, "top_k": 1, "ignore_eos": True, "min_tokens": 32}


def test_sampling_maps_every_decoder_field(make_config):
    cfg = make_config(
        decoder={
            "temperature": 0.7,
            "top_k": 20,
            "top_p": 0.9,
            "min_p": 0.05,
            "repetition_penalty": 1.2,
            "min_new_tokens": 4,
        },
        fixed_output_length=False,
    )
    assert sampling_kwargs(cfg, 16, 9) == {
        "max_tokens": 16, "detokenize": False, "temperature": 0.7, "top_k": 20, "top_p": 0.9, "seed": 9,
        "min_p": 0.05, "repetition_penalty": 1.2, "min_tokens": 4,
    }  # fmt: skip


def test_beam_search_samples_max_beam_width_beams_and_returns_one(make_config):
    cfg = make_config({"beam_search": True, "max_beam_width": 4}, decoder={"temperature": 0.7, "top_k": 20})
    assert sampling_kwargs(cfg, 32, 5) == {
        "max_tokens": 32, "detokenize": False, "use_beam_search": True, "best_of": 4, "n": 1,
        "ignore_eos": True, "min_tokens": 32,
    }  # fmt: skip
    # A width reserved without beam_search sizes the engine but leaves the requests greedy.
    kw = sampling_kwargs(make_config({"max_beam_width": 4}, decoder={"preset": "deterministic"}), 32, 5)
    assert "use_beam_search" not in kw and kw["top_k"] == 1


def test_open_length_sampling_has_no_eos_override(make_config):
    kw = sampling_kwargs(make_config(fixed_output_length=False, decoder={"preset": "deterministic"}), 16, 0)
    assert "ignore_eos" not in kw and "min_tokens" not in kw and "repetition_penalty" not in kw


# -- rules ---------------------------------------------------------------------------------------------------
# (violating section, fragment of the one-line error, a fixed section that passes)
RULE_CASES = {
    "TensorRT-engine-only settings are set while backend is pytorch": (
        {"backend": "pytorch", "weight_streaming": True}, {"backend": "trt", "weight_streaming": True}),
    "PyTorch-runtime-only settings are set while backend is trt": (
        {"attn_backend": "FLASHINFER"}, {"backend": "pytorch", "attn_backend": "FLASHINFER"}),
    "use_fp8_context_fmha needs quantization fp8, w4a8_awq or nvfp4": (
        {"use_fp8_context_fmha": True, "quantization": "int8_sq"},
        {"use_fp8_context_fmha": True, "quantization": "w4a8_awq"}),
    "speculative decoding settings are set without speculative_mode": (
        {"speculative_model": "/m"}, {"speculative_model": "/m", "speculative_mode": "medusa"}),
    ("lookahead_window_size/lookahead_ngram_size/lookahead_verification_set_size requires "
     "speculative_mode=lookahead"): (
        {"speculative_mode": "medusa", "lookahead_ngram_size": 3},
        {"speculative_mode": "lookahead", "lookahead_ngram_size": 3}),
    "speculative_mode draft_target/eagle/eagle3 needs speculative_model": (
        {"speculative_mode": "eagle"}, EAGLE),
    "speculative_mode is not available on this backend": (
        {"speculative_mode": "ngram"}, {"backend": "pytorch", "speculative_mode": "ngram"}),
    "eagle_dynamic_tree_top_k needs speculative_mode eagle or eagle3": (
        {"speculative_mode": "medusa", "eagle_dynamic_tree_top_k": 2},
        {**EAGLE, "eagle_dynamic_tree_top_k": 2}),
    "cuda_graph_max_batch_size contradicts cuda_graphs=false": (
        {**PT, "cuda_graphs": False, "cuda_graph_max_batch_size": 8}, {**PT, "cuda_graph_max_batch_size": 8}),
    "cuda_graph_batch_sizes contradicts cuda_graphs=false": (
        {**PT, "cuda_graphs": False, "cuda_graph_batch_sizes": [1, 2]},
        {**PT, "cuda_graph_batch_sizes": [1, 2]}),
    "cuda_graph_max_batch_size must equal the largest of cuda_graph_batch_sizes": (
        {**PT, "cuda_graph_max_batch_size": 4, "cuda_graph_batch_sizes": [1, 2]},
        {**PT, "cuda_graph_max_batch_size": 2, "cuda_graph_batch_sizes": [1, 2]}),
    "gemm_swiglu_plugin / low_latency_gemm_swiglu_plugin need use_fused_mlp": (
        {"gemm_swiglu_plugin": "fp8", "use_fused_mlp": False},
        {"gemm_swiglu_plugin": "fp8", "use_fused_mlp": True}),
    "cuda_graph_padding contradicts cuda_graphs=false": (
        {**PT, "cuda_graphs": False, "cuda_graph_padding": True},
        {**PT, "cuda_graphs": True, "cuda_graph_padding": True}),
    "beam_search needs max_beam_width of 2 or more": (
        {"beam_search": True}, {"beam_search": True, "max_beam_width": 2}),
    "kv_cache_sink_token_length needs max_attention_window": (
        {"kv_cache_sink_token_length": 4}, {"kv_cache_sink_token_length": 4, "max_attention_window": 512}),
    "max_input_len cannot exceed max_seq_len": (
        {"max_input_len": 512, "max_seq_len": 256}, {"max_input_len": 256, "max_seq_len": 256}),
}  # fmt: skip


def test_every_rule_has_a_case():
    messages = [r.message for r in TensorRTConfig.__rules__]
    assert all(any(m.startswith(k) for k in RULE_CASES) for m in messages), messages
    assert len(RULE_CASES) == len(messages)


@pytest.mark.parametrize("fragment", list(RULE_CASES))
def test_rule_rejects_and_fix_passes(make_config, fragment):
    bad, good = RULE_CASES[fragment]
    with pytest.raises(ConfigError, match=r"^\$\.tensorrt: ") as err:
        make_config(bad)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    make_config(good)


@pytest.mark.parametrize(
    "field", [*TRT_ONLY_NONE, *TRT_ONLY_FLAGS, "use_paged_context_fmha", "batching_type"]
)
def test_each_engine_only_setting_is_refused_on_pytorch(make_config, field):
    value = {"use_paged_context_fmha": False, "batching_type": "static"}.get(field)
    if value is None:
        value = FIELD_CASES[field][1]
    with pytest.raises(ConfigError, match="TensorRT-engine-only"):
        make_config({"backend": "pytorch", field: value})


@pytest.mark.parametrize("field", [*PYTORCH_ONLY_NONE, "use_custom_all_reduce"])
def test_each_pytorch_only_setting_is_refused_on_trt(make_config, field):
    with pytest.raises(ConfigError, match="PyTorch-runtime-only"):
        make_config({field: FIELD_CASES[field][1]})


def test_int8_kv_cache_is_engine_only(make_config):
    with pytest.raises(ConfigError, match="TensorRT-engine-only"):
        make_config({"backend": "pytorch", "kv_cache_dtype": "int8"})
    assert describe(make_config({"kv_cache_dtype": "int8"}))["quant_config"] == {
        "kv_cache_quant_algo": "INT8"
    }


def test_rules_are_introspectable(trt_plugins):
    rules = [r for r in get_validation_rules(trt_plugins) if r["backend"] == "tensorrt"]
    assert len(rules) == len(TensorRTConfig.__rules__)
    assert all(r["reason"] and r["resolution"] for r in rules)


def test_max_draft_len_bounds(make_config):
    with pytest.raises(ConfigError, match="max_draft_len"):
        make_config({**EAGLE, "max_draft_len": 21})
    with pytest.raises(ConfigError, match="max_draft_len"):
        make_config({**EAGLE, "max_draft_len": 0})


# -- introspection and GPU tiers -----------------------------------------------------------------------------
def test_contract(trt_plugins):
    # no GPU here: the declarations only (the real run is tests/tensorrt/test_integration.py)
    assert_backend_declarations("tensorrt", plugins=trt_plugins)


def test_introspection_discovers_every_field_with_test_values(trt_plugins):
    params = get_backend_params("tensorrt", trt_plugins)
    assert sorted(params) == sorted(f"tensorrt.{f}" for f in FIELDS)
    for path, info in params.items():
        assert info.test_values, path
        assert info.description, path
    assert params["tensorrt.max_draft_len"].test_values == [1, 10, 20]
    assert params["tensorrt.max_draft_len"].default == 5
    assert params["tensorrt.use_paged_context_fmha"].default is True
    assert params["tensorrt.batching_type"].allowed_values == ["inflight", "static"]


def _companions_for(field: str, value: Any) -> dict[str, Any]:
    """Settings a sweep would pair with `field=value` so the section's rules hold."""
    if value is None:
        return {}
    companions = dict(FIELD_CASES[field][0])
    if field == "speculative_mode":
        from llem_tensorrt._config import SPEC_MODE_BACKEND

        companions = {"backend": SPEC_MODE_BACKEND[value], "speculative_model": "/m/draft"}
    if field == "use_custom_all_reduce" and value is True:
        companions = {}
    if field == "use_fp8_context_fmha" and value is False:
        companions = {}
    if field == "cuda_graphs" and value is False:
        companions = PT
    if field == "beam_search" and value is False:
        companions = {}
    return companions


@pytest.mark.parametrize("field", FIELDS)
def test_every_generated_test_value_validates_and_translates(trt_plugins, make_config, field):
    """A sweep over introspection's test values must never produce a config llem cannot translate, and each
    value must reach TensorRT-LLM: two different set values of the field give two different calls where the
    field lands (FIELD_CASES' paths), or a sweep over it would measure the same thing twice. (None means
    "TensorRT-LLM's default", so it may equal the value that is that default.)"""
    info = get_backend_params("tensorrt", trt_plugins)[f"tensorrt.{field}"]
    paths = [path for path, _ in FIELD_CASES[field][2]]
    landed: dict[str, tuple[Any, ...]] = {}
    for value in info.test_values:
        section = {**_companions_for(field, value), field: value}
        if field == "max_input_len" or field == "max_seq_len":
            section.pop("max_seq_len" if field == "max_input_len" else "max_input_len", None)
        desc = translated(make_config(section))
        landed[repr(value)] = tuple(repr(_at(desc, path)) for path in paths)
    if len([v for v in landed if v != "None"]) >= 2:
        landed.pop("None", None)  # else the one set value must differ from leaving the field unset
    same = [v for v, where in landed.items() if list(landed.values()).count(where) > 1]
    assert not same, (
        f"tensorrt.{field}: test values {same} reach TensorRT-LLM identically at {paths}: {landed}"
    )


def test_every_field_case_would_fail_if_the_field_were_ignored(make_config):
    """Meta-test: each FIELD_CASES row names a field and checks where it lands; with the field left out (its
    companions kept), at least one of those checks must fail, or the row proves nothing."""
    vacuous = []
    for field, (companions, value, expectations) in FIELD_CASES.items():
        if field == "backend":
            continue  # the backend row's companion is itself
        try:
            without = translated(make_config(dict(companions)))
        except ConfigError:
            continue  # the companions alone do not validate: the row cannot pass without the field
        if all(_at(without, path) == expected for path, expected in expectations):
            vacuous.append(f"{field}={value!r}")
    assert vacuous == []


def test_gpu_tiers_list_the_capability_gated_values(trt_plugins):
    ada = get_params_requiring_gpu_capability(8.9, trt_plugins)
    assert "tensorrt.quantization=fp8" in ada and "tensorrt.kv_cache_dtype=fp8" in ada
    assert "tensorrt.use_fp8_context_fmha" not in ada
    hopper = get_params_requiring_gpu_capability(9.0, trt_plugins)
    assert {"tensorrt.use_fp8_context_fmha", "tensorrt.quantization=fp8_block_scales"} <= set(hopper)
    assert "tensorrt.quantization=nvfp4" in get_params_requiring_gpu_capability(10.0, trt_plugins)
    assert "tensorrt.weight_sparsity" in get_params_requiring_gpu_capability(8.0, trt_plugins)


def test_fp8_refused_on_ampere_before_loading(trt_plugins, make_config):
    ampere = DeviceInfo(gpus=(GpuInfo(index=0, name="A10", compute_capability=(8, 6)),))
    problems = gpu_requirement_problems(make_config({"quantization": "fp8"}), ampere, trt_plugins)
    assert problems == ["tensorrt.quantization: fp8 needs compute capability 8.9+, the GPU has 8.6"]
    hopper = DeviceInfo(gpus=(GpuInfo(index=0, name="H100", compute_capability=(9, 0)),))
    cfg = make_config({"quantization": "fp8", "use_fp8_context_fmha": True})
    assert gpu_requirement_problems(cfg, hopper, trt_plugins) == []
