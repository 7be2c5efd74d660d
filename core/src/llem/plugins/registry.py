"""The register object plugins add their backend to; it owns names, collisions and who registered what."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from llem.config.base import Section

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Names the experiment config already uses for its own fields: a backend section cannot take them.
_RESERVED = frozenset(
    {
        "model", "backend", "name", "precision", "n_prompts", "max_input_tokens", "max_output_tokens",
        "fixed_output_length", "random_seed", "prompts", "decoder", "measurement", "output_dir",
        "passthrough_kwargs",
    }
)  # fmt: skip


class RegistrationError(Exception):
    """A plugin registered a backend wrongly (a bug in the plugin, reported as 'broken')."""


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: its name, config section Struct, and the plugin that provides it."""

    name: str
    config: type[Section]
    description: str
    plugin_name: str
    plugin: Any


class BackendRegistry:
    """Passed to `llem_register_backends`; one instance per plugin manager."""

    def __init__(self) -> None:
        self._entries: dict[str, BackendEntry] = {}
        self._current_plugin: tuple[str, Any] | None = None

    def add_backend(self, name: str, *, config: type[Section], description: str = "") -> None:
        """Register backend `name` whose config section is the Struct `config`."""
        if self._current_plugin is None:
            raise RegistrationError("add_backend called outside llem_register_backends")
        plugin_name, plugin = self._current_plugin
        if not _NAME.match(name):
            raise RegistrationError(f"backend name {name!r} must match {_NAME.pattern}")
        if name in _RESERVED:
            raise RegistrationError(f"backend name {name!r} clashes with an experiment config field")
        if not (isinstance(config, type) and issubclass(config, Section)):
            raise RegistrationError(f"backend {name!r}: config must be a subclass of llem.config.Section")
        if name in self._entries:
            other = self._entries[name].plugin_name
            raise RegistrationError(f"backend {name!r} is already registered by plugin {other!r}")
        if any(e.plugin is plugin for e in self._entries.values()):
            raise RegistrationError(f"plugin {plugin_name!r} registers more than one backend (one per plugin)")
        self._entries[name] = BackendEntry(name, config, description, plugin_name, plugin)

    def _for_plugin(self, plugin_name: str, plugin: Any) -> BackendRegistry:
        self._current_plugin = (plugin_name, plugin)
        return self

    def _done(self) -> None:
        self._current_plugin = None

    def _drop_plugin(self, plugin: Any) -> None:
        self._entries = {k: e for k, e in self._entries.items() if e.plugin is not plugin}

    @property
    def entries(self) -> dict[str, BackendEntry]:
        return dict(self._entries)
