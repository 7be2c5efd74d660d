"""llem hook implementations: thin wiring to _config and _engine (nothing heavy is imported here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.config.experiment import ExperimentBase
from llem.config.prompts import SyntheticPrompts
from llem.kit.decoder import decoder_intent
from llem.plugins import Batch, BatchOutput, Capabilities, DeviceInfo, hookimpl
from llem.plugins.registry import BackendRegistry

from llem_tinyengine import _engine
from llem_tinyengine._config import TinyEngineConfig

NAME = "tinyengine"

CAPABILITIES = Capabilities(
    precisions=("fp32", "fp16", "bf16"),  # the engine computes on integers: every precision costs the same
    decoding_strategies=("greedy", "sampling"),
    decoder_params=("do_sample", "top_k", "preset"),  # temperature, top_p, ... would be refused, not ignored
    runs_on_cpu=True,
    per_token_timestamps=True,
    engine_packages=(),  # pure Python: nothing beyond llem-core and this distribution changes the numbers
)


@hookimpl
def llem_register_backends(register: BackendRegistry) -> None:
    register.add_backend(
        NAME, config=TinyEngineConfig, description="Worked example: a tiny pure-Python engine"
    )


@hookimpl
def llem_validate(config: ExperimentBase, device: DeviceInfo) -> list[str]:
    if not isinstance(config.prompts, SyntheticPrompts):
        return ["prompts.source: tinyengine reads token ids only; use source: synthetic"]
    return []


@hookimpl
def llem_load(config: ExperimentBase, engine: None) -> _engine.TinyHandle:
    return _engine.load(config, decoder_intent(config, CAPABILITIES))


@hookimpl
def llem_generate(handle: _engine.TinyHandle, batch: Batch, config: ExperimentBase) -> BatchOutput:
    return _engine.generate(handle, batch)


@hookimpl
def llem_unload(handle: _engine.TinyHandle) -> None:
    return None  # nothing to release


@hookimpl
def llem_capabilities() -> Capabilities:
    return CAPABILITIES


if TYPE_CHECKING:  # mypy checks this module against the typed contract, with this backend's handle type
    from llem.plugins.contract import BackendHooks

    import llem_tinyengine.plugin as _this

    _contract: BackendHooks[_engine.TinyHandle, None] = _this
