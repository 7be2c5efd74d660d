"""Test a backend against the real core: llem-core ships this so backends test themselves (like tox plugins).

- `assert_backend_contract(name, tiny_config)`: loads the backend, runs a tiny experiment through the real
  lifecycle (build, load, warm-up, measure, unload) and checks its outputs and the result's metadata.
- `assert_backend_declarations(name)`: what can be checked without a device (registration, config Struct,
  capabilities, descriptions, rules).
- `plugins_for(name)`: a fresh plugin manager with only that backend's entry point loaded.
- `run_cli(*args)`: the real `llem` command in a subprocess.

pytest fixtures (`llem_plugins`, `llem_cli`, ...) live in `llem.testing.fixtures`; they are registered only
when asked (ini option `llem_fixtures = true`, or `pytest_plugins = ["llem.testing.fixtures"]`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec

from llem.config.base import Section
from llem.config.introspect import get_backend_params
from llem.config.resolve import load_experiment
from llem.measure.devices import detect_devices
from llem.plugins.manager import LlemPlugins, get_plugin_manager
from llem.plugins.types import Capabilities
from llem.plugins.validate import validate_experiment
from llem.run import run_experiment

__all__ = [
    "CliResult",
    "assert_backend_contract",
    "assert_backend_declarations",
    "plugins_for",
    "run_cli",
]


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


def plugins_for(name: str) -> LlemPlugins:
    """A fresh plugin manager that loads only the entry point `name` (the backend under test)."""
    return get_plugin_manager(only=frozenset({name}))


def assert_backend_declarations(name: str, *, plugins: LlemPlugins | None = None) -> None:
    """What every backend must declare: registered and ok, a Section config whose defaults validate, a
    Capabilities answer, described fields with test values, and rules that name real fields."""
    plugins = plugins if plugins is not None else plugins_for(name)
    status = next((s for s in plugins.statuses.values() if name in (s.name, s.backend)), None)
    assert status is not None, f"no plugin named {name!r} is installed (entry point group llem.backends)"
    assert status.status == "ok", f"plugin {name!r} is {status.status}: {status.error}"
    backend = plugins.backend(name)
    section = backend.entry.config
    assert issubclass(section, Section)
    section()  # every field has a default
    caps = backend.capabilities()
    assert isinstance(caps, Capabilities), f"llem_capabilities returned {type(caps).__name__}"
    assert caps.precisions and caps.decoding_strategies
    for path, info in get_backend_params(name, plugins).items():
        assert info.description, f"{path} has no description"
        assert info.test_values, f"{path} has no test values"
    field_names = {f.name for f in msgspec.structs.fields(section)}
    for rule in section.__rules__:
        for f in rule.fields:
            assert f.split(".")[0] in field_names, f"rule {rule.message!r} names unknown field {f!r}"


def assert_backend_contract(
    name: str,
    tiny_config: Mapping[str, Any],
    *,
    plugins: LlemPlugins | None = None,
    output_dir: str | Path | None = None,
) -> Any:
    """Declarations, then a real tiny run: the static checks pass, the backend loads, generates (every batch
    is checked by the core), unloads, and the result carries honest metadata. Returns the ExperimentResult.

    tiny_config: an experiment config without `backend` (e.g. `{"model": "random:tiny-llama", "n_prompts": 2,
    "max_output_tokens": 4}`); keep it small, it really runs.
    """
    plugins = plugins if plugins is not None else plugins_for(name)
    assert_backend_declarations(name, plugins=plugins)
    config = load_experiment({**dict(tiny_config), "backend": name}, plugins=plugins)
    problems = validate_experiment(config, detect_devices(), plugins)
    assert not problems, f"tiny_config cannot run here: {'; '.join(problems)}"
    with tempfile.TemporaryDirectory(prefix="llem-contract-") as tmp:
        result = run_experiment(config, plugins=plugins, output_dir=output_dir or tmp)
    assert result.status == "ok", f"backend {name!r} failed the tiny run: {result.error}"
    m = result.metrics
    expected = config.n_prompts * config.max_output_tokens
    if config.fixed_output_length:
        assert m.output_tokens == expected, f"{m.output_tokens} output tokens, fixed length wants {expected}"
    assert m.n_requests == config.n_prompts, f"{m.n_requests} requests for {config.n_prompts} prompts"
    assert m.timing_source, "the backend named no timing source"
    if (
        m.ttft_s is not None
        and m.e2e_s is not None
        and m.ttft_s.mean is not None
        and m.e2e_s.mean is not None
    ):
        assert m.ttft_s.mean <= m.e2e_s.mean, "mean TTFT exceeds mean end-to-end latency"
    status = plugins.statuses[plugins.backend(name).entry.plugin_name]
    if status.distribution:
        assert result.packages.get(status.distribution) == status.version, "backend version not recorded"
    caps = plugins.backend(name).capabilities()
    recorded = {p for p in caps.engine_packages if p in result.packages}
    missing = [p for p in caps.engine_packages if p not in recorded and _installed(p)]
    assert not missing, f"engine packages installed but not recorded: {missing}"
    assert result.decoder.get("strategy") in caps.decoding_strategies
    return result


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True
