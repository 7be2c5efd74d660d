"""Opt-in model reuse inside one worker process: a plugin manager whose backends keep the loaded model.

The run engine calls `backend.load` and `backend.unload` for every experiment. With reuse, `load` returns the
handle already loaded when the model key (the config minus runtime settings, see llem.study.order.model_key)
matches, and `unload` is deferred until the model changes or the worker finishes. After a failed experiment
the model is dropped (a CUDA out-of-memory error, say, can leave it in a bad state) and the next experiment
loads it afresh."""

from __future__ import annotations

from typing import Any

from llem.config.resolve import to_dict
from llem.plugins.manager import Backend, LlemPlugins, get_plugin_manager
from llem.study.order import model_key


class ModelCache:
    """At most one loaded model: its key, handle and the backend that loaded it."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.handle: Any = None
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


class _ReusingBackend:
    """A backend whose load/unload go through the ModelCache; every other call reaches the backend itself."""

    def __init__(self, inner: Backend[object, object], cache: ModelCache) -> None:
        self._inner = inner
        self._cache = cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def load(self, config: Any, engine: Any) -> Any:
        key = f"{self._inner.name}:{model_key(to_dict(config))}"
        cache = self._cache
        if cache.key == key and cache.handle is not None:
            cache.hits += 1
            cache.last_load_reused = True
            return cache.handle
        cache.drop()
        cache.last_load_reused = False
        handle = self._inner.load(config, engine)
        cache.key, cache.handle, cache.backend = key, handle, self._inner
        return handle

    def unload(self, handle: Any) -> None:
        if handle is not None and handle is self._cache.handle:
            return  # kept for the next experiment; ModelCache.drop unloads it
        self._inner.unload(handle)


class ReusingPlugins:
    """A plugin manager whose backends share one ModelCache (everything else is the manager's own)."""

    def __init__(self, plugins: LlemPlugins, cache: ModelCache) -> None:
        self._plugins = plugins
        self.cache = cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plugins, name)

    def backend(self, name: str) -> Any:
        return _ReusingBackend(self._plugins.backend(name), self.cache)


def reusing_plugin_manager(cache: ModelCache) -> ReusingPlugins:
    """Like llem.plugins.manager.get_plugin_manager(), with model reuse through `cache`."""
    return ReusingPlugins(get_plugin_manager(), cache)
