"""llem hook implementations for TensorRT-LLM: thin wiring; the work is in _config, _translate and _engine."""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from llem.kit.parallel import world_size, world_size_problems
from llem.plugins import Capabilities, hookimpl

from llem_tensorrt._config import QUANT_ALGOS, TensorRTConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.registry import BackendRegistry
    from llem.plugins.types import Batch, BatchOutput, DeviceInfo

    from llem_tensorrt._engine import EngineArtifact, Handle

TARGET_VERSION = "1.2"

CAPABILITIES = Capabilities(
    precisions=("fp32", "fp16", "bf16"),
    decoding_strategies=("greedy", "sampling", "beam_search"),
    decoder_params=(
        "temperature",
        "do_sample",
        "top_k",
        "top_p",
        "min_p",
        "repetition_penalty",
        "min_new_tokens",
        "preset",
    ),
    quantization=tuple(QUANT_ALGOS),
    torch_compile=True,  # backend: pytorch, torch_compile
    cuda_graphs=True,  # pytorch: cuda_graphs (default on); trt: cuda_graph_mode
    beam_search=True,  # tensorrt.beam_search with tensorrt.max_beam_width
    speculative_decoding=True,
    static_kv_cache=False,
    prefix_caching=True,  # enable_block_reuse
    continuous_batching=True,  # in-flight batching: all prompts are submitted at once
    multi_gpu=("tensor_parallel", "pipeline_parallel", "expert_parallel"),
    runs_on_cpu=False,
    ahead_of_time_build=True,
    per_token_timestamps=True,
    runtime_modules=("tensorrt_llm",),
    batch_size_field=None,  # every prompt goes in one call: the engine schedules them
    engine_packages=("tensorrt-llm", "tensorrt_llm", "torch", "transformers"),
)


@hookimpl
def llem_register_backends(register: BackendRegistry) -> None:
    register.add_backend(
        "tensorrt",
        config=TensorRTConfig,
        description="NVIDIA TensorRT-LLM 1.2: ahead-of-time TensorRT engines or its PyTorch runtime "
        "(NVIDIA GPU only).",
    )


@hookimpl
def llem_validate(config: ExperimentBase, device: DeviceInfo) -> list[str]:
    problems = []
    if not device.has_gpu:
        problems.append(
            "tensorrt: TensorRT-LLM needs an NVIDIA GPU with CUDA; none is visible on this machine"
        )
    if importlib.util.find_spec("tensorrt_llm") is None:
        problems.append(
            "tensorrt: tensorrt_llm is not installed (pip install 'llem-tensorrt[runtime]' on a machine with "
            "an NVIDIA GPU and CUDA)"
        )
    else:
        try:
            version = metadata.version("tensorrt-llm")
        except metadata.PackageNotFoundError:
            version = None
        if version is not None and not version.startswith(TARGET_VERSION):
            problems.append(
                f"tensorrt: tensorrt_llm {version} is installed; llem-tensorrt maps its settings to the "
                f"TensorRT-LLM {TARGET_VERSION} API (install tensorrt-llm=={TARGET_VERSION}.*)"
            )
    s = config.section()
    assert isinstance(s, TensorRTConfig)
    world = world_size(s.tensor_parallel_size, s.pipeline_parallel_size)
    problems += world_size_problems(
        "tensorrt.tensor_parallel_size", "ranks (tensor × pipeline parallel)", world, device
    )
    return problems


@hookimpl
def llem_build_engine(config: ExperimentBase, cache_dir: Path) -> EngineArtifact | None:
    from llem_tensorrt._engine import build_engine

    return build_engine(config, cache_dir)


@hookimpl
def llem_load(config: ExperimentBase, engine: EngineArtifact | None) -> Handle:
    from llem_tensorrt._engine import load

    return load(config, engine)


@hookimpl
def llem_generate(handle: Handle, batch: Batch, config: ExperimentBase) -> BatchOutput:
    from llem_tensorrt._engine import generate

    return generate(handle, batch, config)


@hookimpl
def llem_unload(handle: Handle | None) -> None:
    from llem_tensorrt._engine import Handle, unload

    if isinstance(handle, Handle):
        unload(handle)


@hookimpl
def llem_capabilities() -> Capabilities:
    return CAPABILITIES


if TYPE_CHECKING:  # mypy checks this module against the typed contract, with this backend's handle and engine
    from llem.plugins.contract import BuildsEngine

    import llem_tensorrt.plugin as _this

    _contract: BuildsEngine[Handle, EngineArtifact] = _this
