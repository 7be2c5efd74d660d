"""Hook specifications every llem backend plugin implements (pluggy, project name "llem").

A backend plugin is a module (or object) registered under the `llem.backends` entry-point group. It registers
exactly one backend in `llem_register_backends` and implements the per-backend hooks below; the core calls
those hooks only on the plugin that registered the backend named in the config. Import heavy libraries (torch,
vllm, tensorrt_llm) inside the hooks, never at module import: `llem --help` must stay fast.

Handles and engines are the backend's own types: the core never looks inside them (`object` here); a backend
states its types with `llem.plugins.contract.BackendHooks[Handle, Engine]` and mypy checks its
module against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.registry import BackendRegistry
    from llem.plugins.types import Batch, BatchOutput, Capabilities, DeviceInfo

hookspec = pluggy.HookspecMarker("llem")
hookimpl = pluggy.HookimplMarker("llem")


@hookspec
def llem_register_backends(register: BackendRegistry) -> None:
    """Register this plugin's backend.

    :param register: call `register.add_backend(name, config=SectionStruct, description=...)` once. The
        section Struct (a subclass of `llem.config.Section`) becomes the `NAME:` section of the experiment
        config.
    """


@hookspec
def llem_validate(config: ExperimentBase, device: DeviceInfo) -> list[str] | None:
    """Backend-specific checks beyond what the config Structs enforce, made before anything is loaded.

    :param config: the validated experiment config (its backend section is this plugin's).
    :param device: the GPUs present (empty on a CPU-only machine).
    :return: a list of problems, each one line naming the field (e.g. "pytorch.attn_implementation:
        flash_attention_3 needs compute capability 9.0, GPU 0 has 8.6"); empty or None if none. Never raise
        for user mistakes. Results of all implementations are concatenated.
    """


@hookspec(firstresult=True)
def llem_build_engine(config: ExperimentBase, cache_dir: Path) -> object:
    """The ahead-of-time step (e.g. compile a TensorRT engine), timed and reported outside the
    measured window.

    :param cache_dir: a folder the backend may use to cache build outputs (key them by config hash).
    :return: an engine artifact handed to `llem_load`, or None when the backend needs no build step.
        Stops at first non-None result.
    """


@hookspec(firstresult=True)
def llem_load(config: ExperimentBase, engine: object) -> object:
    """Load weights and tokenizer onto the device; timed, outside the measured window.

    :param engine: what `llem_build_engine` returned (None if nothing was built).
    :return: an opaque handle passed to `llem_generate` and `llem_unload`. Stops at first non-None result.
    """


@hookspec(firstresult=True)
def llem_generate(handle: object, batch: Batch, config: ExperimentBase) -> BatchOutput:
    """Run one batch of prompts and report real token counts and per-request timings.

    The core owns the clock and the energy window: do no setup or teardown work here that is not part of
    inference, and keep per-token host work negligible.

    :return: one `RequestOutput` per prompt, in prompt order. Stops at first non-None result.
    """
    raise NotImplementedError  # a specification: pluggy calls the implementations, never this


@hookspec(firstresult=True)
def llem_capabilities() -> Capabilities:
    """What this backend supports (precisions, decoding strategies, quantisation, compile, ...).

    :return: a `Capabilities`. Stops at first non-None result.
    """
    raise NotImplementedError  # a specification: pluggy calls the implementations, never this


@hookspec
def llem_prepare(config: ExperimentBase) -> None:
    """Get ready to load `config` later, in a process that will run it: import the heavy libraries.

    Optional. A study calls this in its spare worker, once per distinct config, while the first experiment
    loads; each later experiment's worker is forked from the spare, with these imports done. Touch no device:
    no CUDA context (it would change the running experiment's idle power) and no CUDA driver call (a process
    forked after one cannot use CUDA). Read no large files. A failure here is only logged.
    """


@hookspec
def llem_unload(handle: object) -> None:
    """Release what `llem_load` acquired (device memory, worker processes). Called even after a failed run."""
