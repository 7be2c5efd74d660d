"""llem hook implementations for the server backend: thin wiring to the private modules.

aiohttp is imported inside the hooks only: `llem backends list` imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llem.plugins import hookimpl
from llem.plugins.types import Capabilities

from llem_server._config import ServerConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.registry import BackendRegistry
    from llem.plugins.types import Batch, BatchOutput, DeviceInfo

    from llem_server._handle import ServerHandle

NAME = "server"

CAPABILITIES = Capabilities(
    precisions=("fp32", "fp16", "bf16"),  # the server's own; llem records the config's value as a label
    decoding_strategies=("greedy", "sampling"),
    decoder_params=(
        "temperature",
        "do_sample",
        "top_k",
        "top_p",
        "repetition_penalty",
        "min_p",
        "min_new_tokens",
    ),
    continuous_batching=True,  # the server schedules requests as they arrive
    runs_on_cpu=True,
    per_token_timestamps=True,  # every streamed chunk is timed on arrival
    serving=True,
)


@hookimpl
def llem_register_backends(register: BackendRegistry) -> None:
    register.add_backend(
        NAME,
        config=ServerConfig,
        description="Any OpenAI-compatible server (vLLM, SGLang, TGI, trtllm-serve, llama.cpp, Ollama) "
        "under load",
    )


@hookimpl
def llem_validate(config: ExperimentBase, device: DeviceInfo) -> list[str]:
    from llem_server._validate import problems

    return problems(config)


@hookimpl
def llem_build_engine(config: ExperimentBase, cache_dir: Path) -> None:
    return None


@hookimpl
def llem_load(config: ExperimentBase, engine: None) -> ServerHandle:
    from llem_server._backend import load

    return load(config)


@hookimpl
def llem_generate(handle: ServerHandle, batch: Batch, config: ExperimentBase) -> BatchOutput:
    from llem_server._load import serve

    return serve(handle, batch, config)


@hookimpl
def llem_capabilities() -> Capabilities:
    return CAPABILITIES


@hookimpl
def llem_unload(handle: ServerHandle) -> None:
    if handle is None:
        return
    from llem_server._backend import unload

    unload(handle)


if TYPE_CHECKING:  # mypy checks this module against the typed contract, with this backend's handle type
    from llem.plugins.contract import BackendHooks

    import llem_server.plugin as _this

    _contract: BackendHooks[ServerHandle, None] = _this
