"""pytest fixtures for testing backends against the real core; registered only when a test suite asks.

Ask with the ini option `llem_fixtures = true` (and `llem_backend = NAME` so `llem_plugins` loads only the
backend under test), or with `pytest_plugins = ["llem.testing.fixtures"]` in a conftest.

- `llem_plugins`: a fresh plugin manager (no global state): only `llem_backend` when set, else every plugin.
- `llem_empty_plugins`: a fresh manager with no plugins; `register_plugin(obj, name)` adds one for one test.
- `llem_cli`: run the real `llem` command in a subprocess; returns a `CliResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llem.plugins.manager import LlemPlugins, get_plugin_manager
from llem.testing import CliResult, plugins_for, run_cli


@pytest.fixture
def llem_cli() -> Callable[..., CliResult]:
    return run_cli


@pytest.fixture
def llem_plugins(request: pytest.FixtureRequest) -> LlemPlugins:
    name = request.config.getini("llem_backend") if _has_ini(request.config, "llem_backend") else ""
    return plugins_for(name) if name else get_plugin_manager()


@pytest.fixture
def llem_empty_plugins() -> LlemPlugins:
    return get_plugin_manager(entry_points=False)


@pytest.fixture
def register_plugin(llem_empty_plugins: LlemPlugins) -> Iterator[Callable[[Any, str], LlemPlugins]]:
    """Register a plugin object on a fresh manager for this test only."""

    def _register(plugin: Any, name: str) -> LlemPlugins:
        llem_empty_plugins.register(plugin, name)
        return llem_empty_plugins

    yield _register


def _has_ini(config: pytest.Config, name: str) -> bool:
    try:
        config.getini(name)
    except ValueError:
        return False
    return True
