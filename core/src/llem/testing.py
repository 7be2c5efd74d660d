"""pytest plugin shipped with llem-core, so backend packages test themselves against the real core.

Fixtures:
- `llem_plugins`: a fresh plugin manager with the installed entry-point plugins (no global state).
- `llem_empty_plugins`: a fresh manager with no plugins; `register_plugin(obj, name)` adds one for one test.
- `llem_cli`: run the real `llem` command in a subprocess; returns a `CliResult` (exit code, stdout, stderr).
Helpers: `assert_backend_contract(plugins, name)` checks what every backend must satisfy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from llem.config.base import Section
from llem.plugins.manager import LlemPlugins, get_plugin_manager
from llem.plugins.types import Capabilities


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    *args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> CliResult:
    """Run `llem ARGS` in a fresh interpreter (the real entry point, no in-process shortcuts)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", "from llem.cli import main; main()", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def llem_cli() -> Callable[..., CliResult]:
    return run_cli


@pytest.fixture
def llem_plugins() -> LlemPlugins:
    return get_plugin_manager()


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


def assert_backend_contract(plugins: LlemPlugins, name: str) -> None:
    """What every backend must satisfy: registered and ok, a Section config whose defaults validate, a
    Capabilities answer, described fields, and rules that name real fields."""
    status = plugins.statuses.get(name)
    assert status is not None and status.status == "ok", f"plugin {name!r} not ok: {status}"
    backend = plugins.backend(name)
    section = backend.entry.config
    assert issubclass(section, Section)
    section()  # every field has a default
    caps = backend.capabilities()
    assert isinstance(caps, Capabilities), f"llem_capabilities returned {type(caps).__name__}"
    assert caps.precisions and caps.decoding_strategies
    from llem.config.introspect import get_backend_params

    for path, info in get_backend_params(name, plugins).items():
        assert info.description, f"{path} has no description"
        assert info.test_values, f"{path} has no test values"
    field_names = {f.name for f in msgspec.structs.fields(section)}
    for rule in section.__rules__:
        for f in rule.fields:
            assert f.split(".")[0] in field_names, f"rule {rule.message!r} names unknown field {f!r}"
