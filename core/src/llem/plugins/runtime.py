"""Whether a backend can run here or only describe its config: its declared runtime modules are present."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llem.plugins.manager import LlemPlugins


def missing_runtime(plugins: LlemPlugins, backend: str) -> list[str]:
    """The backend's `Capabilities.runtime_modules` that are not installed (found without importing them)."""
    caps = plugins.backend(backend).capabilities()
    missing = []
    for module in caps.runtime_modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing
