"""The installed backends as the config layer sees them: a structural type, so config never imports plugins.

The plugin manager (`llem.plugins.LlemPlugins`) is one; callers in higher layers pass it in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from llem.config.base import Section
    from llem.config.experiment import ExperimentBase


class BackendSection(Protocol):
    """A usable backend's config section and its one-line description."""

    @property
    def config(self) -> type[Section]: ...

    @property
    def description(self) -> str: ...


class InstalledBackends(Protocol):
    """What loading, introspecting and documenting a config needs to know about the installed backends."""

    @property
    def backends(self) -> Mapping[str, BackendSection]:
        """Usable backends by name (not broken, disabled or conflicting)."""
        ...

    def known_names(self) -> Collection[str]:
        """Every name a config might mean as a backend, usable or not."""
        ...

    def unavailable_reason(self, name: str) -> str:
        """One line: why backend `name` cannot be used."""
        ...

    def experiment_type(self) -> type[ExperimentBase]:
        """The ExperimentConfig Struct for the usable backends."""
        ...
