"""llem hook implementations for the pytorch backend: thin wiring to the private modules.

torch and transformers are imported inside the hooks only: `llem backends list` imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llem.plugins import hookimpl
from llem.plugins.types import Capabilities

from llem_pytorch._config import PyTorchConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.registry import BackendRegistry
    from llem.plugins.types import Batch, BatchOutput, DeviceInfo

    from llem_pytorch._load import PyTorchHandle

NAME = "pytorch"

CAPABILITIES = Capabilities(
    precisions=("fp32", "fp16", "bf16"),
    decoding_strategies=("greedy", "sampling", "beam_search"),
    decoder_params=(
        "temperature", "do_sample", "top_k", "top_p", "repetition_penalty", "min_p", "min_new_tokens",
        "preset",
    ),
    quantization=("bnb_4bit", "bnb_8bit"),
    torch_compile=True,
    # torch_compile_mode: reduce-overhead, and transformers' auto-compile with a static cache
    cuda_graphs=True,
    beam_search=True,
    speculative_decoding=True,  # prompt lookup (prompt_lookup_num_tokens)
    static_kv_cache=True,
    prefix_caching=False,
    continuous_batching=False,
    multi_gpu=("data_parallel",),
    runs_on_cpu=True,
    runtime_modules=("torch", "transformers"),
    ahead_of_time_build=False,
    per_token_timestamps=True,
    engine_packages=("torch", "transformers", "accelerate", "bitsandbytes"),
)  # fmt: skip


def _is_parallel(config: ExperimentBase) -> bool:
    return (config.section(PyTorchConfig).num_processes or 1) > 1


@hookimpl
def llem_register_backends(register: BackendRegistry) -> None:
    register.add_backend(
        NAME,
        config=PyTorchConfig,
        description="Hugging Face transformers on PyTorch (CPU or NVIDIA GPU)",
    )


@hookimpl
def llem_validate(config: ExperimentBase, device: DeviceInfo) -> list[str]:
    from llem_pytorch._validate import problems

    return problems(config, device)


@hookimpl
def llem_prepare(config: ExperimentBase) -> None:
    # deferred here, not at module import: torch and transformers take seconds to import, which a study's
    # spare worker pays once, for every worker forked from it (no CUDA call: importing creates no context)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401  (resolves the lazy modules)

    import llem_pytorch._generate
    import llem_pytorch._load

    pt = config.section(PyTorchConfig)
    if pt.torch_compile or pt.cache_implementation in llem_pytorch._load.STATIC_CACHES:
        # What torch.compile imports at its first call (dynamo's backend wrapper, inductor's compiler): 2.2 s
        # of the warm-up of a static-cache experiment on an H200 host, profiled with py-spy.
        import torch._dynamo.repro.after_dynamo
        import torch._inductor.compile_fx  # noqa: F401


@hookimpl
def llem_build_engine(config: ExperimentBase, cache_dir: Path) -> None:
    return None  # nothing is built ahead of time; torch.compile happens at load


@hookimpl
def llem_load(config: ExperimentBase, engine: None) -> PyTorchHandle:
    from llem_pytorch._load import PyTorchHandle, load

    if _is_parallel(config):
        from llem_pytorch._parallel import WorkerPool

        pool = WorkerPool(config, config.section(PyTorchConfig).num_processes or 1)
        return PyTorchHandle(pool=pool)
    return load(config)


@hookimpl
def llem_generate(handle: PyTorchHandle, batch: Batch, config: ExperimentBase) -> BatchOutput:
    if handle.pool is not None:
        return handle.pool.generate(batch)
    from llem_pytorch._generate import run_batch

    return run_batch(handle, batch, config)


@hookimpl
def llem_capabilities() -> Capabilities:
    return CAPABILITIES


@hookimpl
def llem_unload(handle: PyTorchHandle) -> None:
    if handle is None:
        return
    if handle.pool is not None:
        handle.pool.close()
        return
    handle.model = None
    handle.clock = None
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


if TYPE_CHECKING:  # mypy checks this module against the typed contract, with this backend's handle type
    from llem.plugins.contract import BackendHooks

    import llem_pytorch.plugin as _this

    _contract: BackendHooks[PyTorchHandle, None] = _this
