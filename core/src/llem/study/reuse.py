"""Opt-in model reuse inside one worker process: a plugin manager whose backends keep the loaded model.

The run engine calls `backend.load` and `backend.unload` for every experiment. With reuse, `load` returns the
handle already loaded when the model key (the config minus runtime settings, see llem.study.order.model_key)
matches, and `unload` is deferred until the model changes or the worker finishes. After a failed experiment
the model is dropped (a CUDA out-of-memory error, say, can leave it in a bad state) and the next experiment
loads it afresh."""

from __future__ import annotations

from typing import Any

from llem.config.resolve import to_dict
from llem.plugins.manager import Backend, LlemPlugins
from llem.study.order import model_key


class ModelCache:
    """At most one loaded model: its key, handle and the backend that loaded it."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.handle: Any = None
        self.backend: Backend | None = None
        self.hits = 0
        self.last_load_reused = False

    def drop(self) -> None:
        """Unload the cached model for real."""
        if self.backend is not None and self.handle is not None:
            backend, handle = self.backend, self.handle
            self.key, self.handle, self.backend = None, None, None
            backend.unload(handle)
        self.key, self.handle, self.backend = None, None, None


class _ReusingBackend(Backend):
    def __init__(self, inner: Backend, cache: ModelCache) -> None:
        super().__init__(inner.entry, inner._pm, inner._others)
        self._cache = cache

    def load(self, config: Any, engine: Any) -> Any:
        key = f"{self.name}:{model_key(to_dict(config))}"
        cache = self._cache
        if cache.key == key and cache.handle is not None:
            cache.hits += 1
            cache.last_load_reused = True
            return cache.handle
        cache.drop()
        cache.last_load_reused = False
        handle = super().load(config, engine)
        cache.key, cache.handle, cache.backend = key, handle, Backend(self.entry, self._pm, self._others)
        return handle

    def unload(self, handle: Any) -> None:
        if handle is not None and handle is self._cache.handle:
            return  # kept for the next experiment; ModelCache.drop unloads it
        super().unload(handle)


class ReusingPlugins(LlemPlugins):
    """LlemPlugins whose backends share one ModelCache."""

    def __init__(self, cache: ModelCache, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cache = cache

    def backend(self, name: str) -> Backend:
        return _ReusingBackend(super().backend(name), self.cache)


def reusing_plugin_manager(cache: ModelCache) -> ReusingPlugins:
    """Like llem.plugins.manager.get_plugin_manager(), with model reuse through `cache`."""
    import os

    strict = os.environ.get("LLEM_STRICT_PLUGINS", "") not in ("", "0")
    disabled = frozenset(
        p.strip() for p in os.environ.get("LLEM_DISABLE_PLUGINS", "").split(",") if p.strip()
    )
    plugins = ReusingPlugins(cache, strict=strict, disabled=disabled)
    plugins.load_entry_points()
    return plugins
