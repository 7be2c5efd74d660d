"""Materialisation, the engine build cache, load/generate/unload and validate, against a fake `tensorrt_llm`.

Why a fake: TensorRT-LLM needs an NVIDIA GPU and CUDA at import and cannot be installed on these machines nor
carried to the lent GPUs (far over the size limit). The fake below implements only the surface llem-tensorrt
calls (module paths and class names as in TensorRT-LLM 1.2: tensorrt_llm.llmapi.llm_args,
tensorrt_llm.llmapi.llm, tensorrt_llm.sampling_params) and records every constructor's keyword arguments, so
these tests check what llem would hand to the real library. The real library is exercised by
tests/tensorrt/test_integration.py where it exists.
"""

from __future__ import annotations

import asyncio
import enum
import importlib.machinery
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
from llem.plugins.types import Batch, DeviceInfo, GpuInfo, Prompt
from llem_tensorrt import _engine, _materialise
from llem_tensorrt._translate import describe


class _Recorded:
    """A stand-in config class: keeps its constructor kwargs."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class _PluginConfig:
    pass


class _BuildConfig(_Recorded):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin_config = _PluginConfig()


class _Completion:
    def __init__(self, token_ids: list[int]) -> None:
        self.token_ids = token_ids


class _Output:
    def __init__(self, prompt_ids: list[int], token_ids: list[int]) -> None:
        self.prompt_token_ids = prompt_ids
        self.outputs = [_Completion(token_ids)]


class _FakeLLM:
    """Records construction; save() writes an engine folder; generate_async streams max_tokens tokens."""

    instances: ClassVar[list[_FakeLLM]] = []
    fail_save = False

    def __init__(self, model: str, **kwargs: Any) -> None:
        self.model = model
        self.kwargs = kwargs
        self.shut_down = False
        type(self).instances.append(self)

    def save(self, engine_dir: str) -> None:
        if type(self).fail_save:
            raise RuntimeError("engine build failed")
        Path(engine_dir, "rank0.engine").write_bytes(b"engine")
        Path(engine_dir, "config.json").write_text("{}")

    def shutdown(self) -> None:
        self.shut_down = True

    def generate_async(self, prompt: Any, sampling_params: Any, streaming: bool = False) -> Any:
        assert streaming
        n = sampling_params.kwargs["max_tokens"]
        ids = list(prompt["prompt_token_ids"]) if isinstance(prompt, dict) else [1, 2, 3]

        async def stream():
            for i in range(1, n + 1):
                await asyncio.sleep(0.001)
                yield _Output(ids, list(range(i)))

        return stream()


class _TrtLLM(_FakeLLM):
    instances: ClassVar[list[_FakeLLM]] = []


class _TorchLLM(_FakeLLM):
    instances: ClassVar[list[_FakeLLM]] = []


@pytest.fixture
def fake_trtllm(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    def module(name: str) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, m)
        return m

    root = module("tensorrt_llm")
    root.__version__ = "1.2.0"
    llmapi = module("tensorrt_llm.llmapi")
    la = module("tensorrt_llm.llmapi.llm_args")
    llm = module("tensorrt_llm.llmapi.llm")
    sp = module("tensorrt_llm.sampling_params")
    root.llmapi, llmapi.llm_args, llmapi.llm = llmapi, la, llm
    for name in ("KvCacheConfig", "SchedulerConfig", "DynamicBatchConfig", "QuantConfig",
                 "ExtendedRuntimePerfKnobConfig", "CudaGraphConfig", "TorchCompileConfig", "MoeConfig",
                 "DraftTargetDecodingConfig", "EagleDecodingConfig", "Eagle3DecodingConfig",
                 "MedusaDecodingConfig", "LookaheadDecodingConfig", "NGramDecodingConfig",
                 "MTPDecodingConfig"):  # fmt: skip
        setattr(la, name, type(name, (_Recorded,), {}))
    la.BuildConfig = _BuildConfig
    la.BatchingType = enum.Enum("BatchingType", ["STATIC", "INFLIGHT"])
    la.CapacitySchedulerPolicy = enum.Enum(
        "CapacitySchedulerPolicy", ["MAX_UTILIZATION", "GUARANTEED_NO_EVICT", "STATIC_BATCH"]
    )
    la.ContextChunkingPolicy = enum.Enum(
        "ContextChunkingPolicy", ["FIRST_COME_FIRST_SERVED", "EQUAL_PROGRESS"]
    )
    la.QuantAlgo = enum.Enum("QuantAlgo", ["FP8", "W4A16_AWQ", "INT8", "NVFP4", "W8A8_SQ_PER_CHANNEL"])
    _TrtLLM.instances, _TorchLLM.instances, _FakeLLM.fail_save = [], [], False
    llm._TrtLLM, llm.LLM = _TrtLLM, _TorchLLM
    sp.SamplingParams = type("SamplingParams", (_Recorded,), {})
    return types.SimpleNamespace(llm_args=la, trt=_TrtLLM, torch=_TorchLLM)


@pytest.fixture
def local_model(make_config, tmp_path: Path):
    """A config pointing at a local (fake) checkpoint folder, so no random checkpoint is built."""
    model = tmp_path / "ckpt"
    model.mkdir()

    def _make(section: dict[str, Any] | None = None, **top: Any):
        return make_config(section, model=str(model), **top)

    return _make


def test_materialise_builds_every_config_object(fake_trtllm, local_model):
    cfg = local_model(
        {
            "max_batch_size": 8, "gemm_plugin": "auto", "tokens_per_block": 64, "quantization": "int4_awq",
            "kv_cache_dtype": "fp8", "free_gpu_memory_fraction": 0.5,
            "capacity_scheduler_policy": "static_batch", "context_chunking_policy": "equal_progress",
            "dynamic_batch_window": 32, "batching_type": "static", "multi_block_mode": False,
            "speculative_mode": "medusa", "speculative_model": "/m/medusa",
        }
    )  # fmt: skip
    kw = _materialise.llm_kwargs(describe(cfg))
    la = fake_trtllm.llm_args
    assert kw["batching_type"] is la.BatchingType.STATIC
    assert kw["build_config"].kwargs["max_batch_size"] == 8
    assert kw["build_config"].plugin_config.gemm_plugin == "auto"
    assert kw["build_config"].plugin_config.tokens_per_block == 64
    assert kw["quant_config"].kwargs == {
        "quant_algo": la.QuantAlgo.W4A16_AWQ,
        "kv_cache_quant_algo": la.QuantAlgo.FP8,
    }
    assert kw["kv_cache_config"].kwargs == {"free_gpu_memory_fraction": 0.5}
    sched = kw["scheduler_config"].kwargs
    assert sched["capacity_scheduler_policy"] is la.CapacitySchedulerPolicy.STATIC_BATCH
    assert sched["context_chunking_policy"] is la.ContextChunkingPolicy.EQUAL_PROGRESS
    assert sched["dynamic_batch_config"].kwargs == {"dynamic_batch_moving_average_window": 32}
    assert kw["extended_runtime_perf_knob_config"].kwargs == {"multi_block_mode": False}
    assert type(kw["speculative_config"]).__name__ == "MedusaDecodingConfig"
    assert kw["speculative_config"].kwargs == {"max_draft_len": 5, "speculative_model": "/m/medusa"}


def test_materialise_pytorch_runtime_objects(fake_trtllm, local_model):
    cfg = local_model({"backend": "pytorch", "cuda_graph_max_batch_size": 16, "torch_compile": True,
                       "moe_backend": "TRTLLM", "kv_cache_dtype": "fp8"})  # fmt: skip
    kw = _materialise.llm_kwargs(describe(cfg))
    assert kw["cuda_graph_config"].kwargs == {"max_batch_size": 16}
    assert kw["torch_compile_config"].kwargs == {}
    assert kw["moe_config"].kwargs == {"backend": "TRTLLM"}
    assert kw["kv_cache_config"].kwargs == {"dtype": "fp8"}
    assert "build_config" not in kw and "batching_type" not in kw


def test_build_compiles_once_per_build_settings(fake_trtllm, local_model, tmp_path: Path):
    cache = tmp_path / "engines"
    first = _engine.build_engine(local_model({"max_batch_size": 8}), cache)
    assert first is not None and not first.reused
    assert (Path(first.path) / "rank0.engine").is_file() and (Path(first.path) / _engine.MARKER).is_file()
    assert Path(first.path).parent == cache and Path(first.path).name == first.key
    built = fake_trtllm.trt.instances
    assert len(built) == 1 and built[0].shut_down
    assert built[0].kwargs["build_config"].kwargs["max_batch_size"] == 8

    again = _engine.build_engine(local_model({"max_batch_size": 8, "free_gpu_memory_fraction": 0.3}), cache)
    assert again.reused and again.path == first.path and len(built) == 1  # runtime-only change: same engine

    other = _engine.build_engine(local_model({"max_batch_size": 16}), cache)
    assert not other.reused and other.path != first.path and len(built) == 2
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.key, other.key])  # no temp folders left


def test_failed_build_leaves_nothing_that_looks_built(fake_trtllm, local_model, tmp_path: Path):
    cache = tmp_path / "engines"
    fake_trtllm.trt.fail_save = True
    with pytest.raises(RuntimeError, match="engine build failed"):
        _engine.build_engine(local_model(), cache)
    assert list(cache.iterdir()) == []
    assert fake_trtllm.trt.instances[0].shut_down
    fake_trtllm.trt.fail_save = False
    assert not _engine.build_engine(local_model(), cache).reused


def test_pytorch_runtime_builds_nothing(fake_trtllm, local_model, tmp_path: Path):
    cache = tmp_path / "engines"
    assert _engine.build_engine(local_model({"backend": "pytorch"}), cache) is None
    assert fake_trtllm.trt.instances == [] and not cache.exists()


def test_load_runs_the_engine_with_runtime_arguments_only(fake_trtllm, local_model, tmp_path: Path):
    cfg = local_model({"quantization": "fp8", "fast_build": True, "free_gpu_memory_fraction": 0.4})
    engine = _engine.build_engine(cfg, tmp_path)
    handle = _engine.load(cfg, engine)
    llm = handle.llm
    assert isinstance(llm, fake_trtllm.trt) and llm.model == engine.path
    assert llm.kwargs["tokenizer"] == cfg.model
    assert (
        "build_config" not in llm.kwargs
        and "quant_config" not in llm.kwargs
        and "fast_build" not in llm.kwargs
    )
    assert llm.kwargs["kv_cache_config"].kwargs == {"free_gpu_memory_fraction": 0.4}
    _engine.unload(handle)
    assert llm.shut_down and handle.loop.is_closed()


def test_load_pytorch_runtime(fake_trtllm, local_model):
    cfg = local_model({"backend": "pytorch", "cuda_graphs": False, "attn_backend": "FLASHINFER"})
    handle = _engine.load(cfg, None)
    assert isinstance(handle.llm, fake_trtllm.torch) and handle.llm.model == cfg.model
    assert (
        handle.llm.kwargs["cuda_graph_config"] is None and handle.llm.kwargs["attn_backend"] == "FLASHINFER"
    )
    _engine.unload(handle)


def test_generate_streams_every_request_and_times_it(fake_trtllm, local_model, tmp_path: Path):
    cfg = local_model()
    handle = _engine.load(cfg, _engine.build_engine(cfg, tmp_path))
    batch = Batch(
        prompts=[Prompt(token_ids=[5, 6, 7]), Prompt(token_ids=[8, 9])],
        max_new_tokens=6, fixed_output_length=True, index=0, phase="measure", seed=3,
    )  # fmt: skip
    out = _engine.generate(handle, batch, cfg)
    assert [r.output_tokens for r in out.requests] == [6, 6]
    assert [r.input_tokens for r in out.requests] == [3, 2]
    for r in out.requests:
        assert 0 < r.ttft_s <= r.e2e_s
        assert len(r.itl_s) == 5 and abs(sum(r.itl_s) - (r.e2e_s - r.ttft_s)) < 1e-9
        assert r.itl_tokens is None  # one token per streamed arrival: no chunk sizes to report
    assert out.output_token_ids == [list(range(6)), list(range(6))]
    _engine.unload(handle)


def test_validate_names_what_is_missing(
    fake_trtllm, local_model, trt_plugins, monkeypatch: pytest.MonkeyPatch
):
    backend = trt_plugins.backend("tensorrt")
    one_gpu = DeviceInfo(gpus=(GpuInfo(index=0, name="H100", compute_capability=(9, 0)),))
    assert backend.validate(local_model(), one_gpu) == []
    assert backend.validate(local_model(), DeviceInfo()) == [
        "tensorrt: TensorRT-LLM needs an NVIDIA GPU with CUDA; none is visible on this machine"
    ]
    assert backend.validate(local_model({"tensor_parallel_size": 2}), one_gpu) == [
        "tensorrt.tensor_parallel_size: 2 ranks (tensor × pipeline parallel) need 2 GPUs (one "
        "each), 1 visible"
    ]
    monkeypatch.delitem(sys.modules, "tensorrt_llm")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    problems = backend.validate(local_model(), one_gpu)
    assert len(problems) == 1 and "tensorrt_llm is not installed" in problems[0]
