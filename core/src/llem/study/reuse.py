"""Opt-in model reuse inside one worker process: a plugin manager whose backends keep the loaded model.

The run engine calls `backend.load` and `backend.unload` for every experiment. With reuse, `load` returns the
handle already loaded when the model key (the config minus runtime settings, see llem.study.order.model_key)
matches, and `unload` is deferred until the model changes or the worker finishes. After a failed experiment
the model is dropped (a CUDA out-of-memory error, say, can leave it in a bad state) and the next experiment
loads it afresh."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from llem.config.resolve import to_dict
from llem.plugins.manager import Backend, LlemPlugins, get_plugin_manager
from llem.study.order import model_key

if TYPE_CHECKING:
    import pluggy

    from llem.config.experiment import ExperimentBase
    from llem.plugins.registry import BackendEntry
    from llem.plugins.types import Capabilities


class ModelCache:
    """At most one loaded model: its key, handle and the backend that loaded it."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.handle: object = None
        self.backend: Backend[object, object] | None = None
        self.hits = 0
        self.last_load_reused = False

    def drop(self) -> None:
        """Unload the cached model for real."""
        if self.backend is not None and self.handle is not None:
            backend, handle = self.backend, self.handle
            self.key, self.handle, self.backend = None, None, None
            backend.unload(handle)
        self.key, self.handle, self.backend = None, None, None


class _ReusingBackend(Backend[object, object]):
    """A backend whose load/unload go through the ModelCache; every other call is the backend's own."""

    def __init__(
        self,
        entry: BackendEntry,
        pm: pluggy.PluginManager,
        others: list[Any],
        caps: Capabilities,
        cache: ModelCache,
    ) -> None:
        super().__init__(entry, pm, others, caps)
        self._cache = cache

    def load(self, config: ExperimentBase, engine: object) -> object:
        key = f"{self.name}:{model_key(to_dict(config))}"
        cache = self._cache
        if cache.key == key and cache.handle is not None:
            cache.hits += 1
            cache.last_load_reused = True
            return cache.handle
        cache.drop()
        cache.last_load_reused = False
        handle = super().load(config, engine)
        cache.key, cache.handle, cache.backend = key, handle, self
        return handle

    def unload(self, handle: object) -> None:
        if handle is not None and handle is self._cache.handle:
            return  # kept for the next experiment; ModelCache.drop unloads it
        super().unload(handle)


class ReusingPlugins(LlemPlugins):
    """A plugin manager whose backends share one ModelCache (everything else is the manager's own)."""

    def __init__(
        self, cache: ModelCache, *, strict: bool = False, disabled: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(strict=strict, disabled=disabled)
        self.cache = cache

    def make_backend(
        self, entry: BackendEntry, pm: pluggy.PluginManager, others: list[Any], caps: Capabilities
    ) -> Backend[object, object]:
        return _ReusingBackend(entry, pm, others, caps, self.cache)


def reusing_plugin_manager(cache: ModelCache) -> LlemPlugins:
    """Like llem.plugins.manager.get_plugin_manager(), with model reuse through `cache`."""
    return get_plugin_manager(factory=functools.partial(ReusingPlugins, cache))
