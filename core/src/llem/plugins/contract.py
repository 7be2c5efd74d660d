"""The backend contract as a type: what a backend's plugin module provides, generic in its handle and engine.

The core never looks inside a handle or an engine; a backend names its own types and lets mypy check its
plugin module against this protocol, e.g. at the end of `llem_mybackend/plugin.py`:

    if TYPE_CHECKING:
        import llem_mybackend.plugin as _this

        _contract: BackendHooks[MyHandle, None] = _this

(a backend with a build step: `BuildsEngine[MyHandle, MyEngine]`).

Required hooks are the methods below without a default in the docs (register, capabilities, load, generate);
see docs/writing-a-backend.md for the table of what each must return.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.registry import BackendRegistry
    from llem.plugins.types import Batch, BatchOutput, Capabilities, DeviceInfo

HandleT = TypeVar("HandleT")
EngineT = TypeVar("EngineT")
EngineT_contra = TypeVar("EngineT_contra", contravariant=True)


class BackendHooks(Protocol[HandleT, EngineT_contra]):
    """A backend plugin module whose `llem_load` takes `EngineT_contra` (None without a build step) and
    returns the `HandleT` that `llem_generate` and `llem_unload` receive."""

    def llem_register_backends(self, register: BackendRegistry) -> None: ...

    def llem_capabilities(self) -> Capabilities: ...

    def llem_validate(self, config: ExperimentBase, device: DeviceInfo) -> list[str]: ...

    def llem_load(self, config: ExperimentBase, engine: EngineT_contra) -> HandleT: ...

    def llem_generate(self, handle: HandleT, batch: Batch, config: ExperimentBase) -> BatchOutput: ...

    def llem_unload(self, handle: HandleT) -> None: ...


class BuildsEngine(BackendHooks[HandleT, EngineT], Protocol[HandleT, EngineT]):
    """A backend with an ahead-of-time build step: what its `llem_build_engine` returns (`EngineT`, or None
    when nothing needs building) is what its `llem_load` receives, and `llem_load`'s `HandleT` is what
    `llem_generate` and `llem_unload` receive."""

    def llem_build_engine(self, config: ExperimentBase, cache_dir: Path) -> EngineT | None: ...

    def llem_load(self, config: ExperimentBase, engine: EngineT | None) -> HandleT: ...
