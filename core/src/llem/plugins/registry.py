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
    """Passed to `llem_register_backends`; one instance per plugin manager.

    A name claimed by two plugins is a conflict: neither is usable (`entries` leaves the name out, `conflicts`
    lists every claimant) until one is uninstalled. There is no silent winner.
    """

    def __init__(self) -> None:
        self._claims: dict[str, list[BackendEntry]] = {}
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
        if any(e.plugin is plugin for claims in self._claims.values() for e in claims):
            raise RegistrationError(
                f"plugin {plugin_name!r} registers more than one backend (one per plugin)"
            )
        self._claims.setdefault(name, []).append(BackendEntry(name, config, description, plugin_name, plugin))

    def _for_plugin(self, plugin_name: str, plugin: Any) -> BackendRegistry:
        self._current_plugin = (plugin_name, plugin)
        return self

    def _done(self) -> None:
        self._current_plugin = None

    def _drop_plugin(self, plugin: Any) -> None:
        claims = {k: [e for e in es if e.plugin is not plugin] for k, es in self._claims.items()}
        self._claims = {k: es for k, es in claims.items() if es}

    def entry_of(self, plugin: Any) -> BackendEntry | None:
        """The backend `plugin` registered (conflicting or not), None if it registered none."""
        return next((e for es in self._claims.values() for e in es if e.plugin is plugin), None)

    @property
    def entries(self) -> dict[str, BackendEntry]:
        """Usable backends: names claimed by exactly one plugin."""
        return {k: es[0] for k, es in self._claims.items() if len(es) == 1}

    @property
    def conflicts(self) -> dict[str, list[BackendEntry]]:
        """Names claimed by more than one plugin, with every claimant (none of them is used)."""
        return {k: list(es) for k, es in self._claims.items() if len(es) > 1}
