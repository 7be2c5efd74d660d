"""Turn a config file (or dict) plus overrides into a validated ExperimentConfig for the installed
backends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from llem.config.experiment import ExperimentBase
from llem.config.load import apply_overrides, convert, parse_override, read_file
from llem.errors import ConfigError

if TYPE_CHECKING:
    from llem.config.installed import InstalledBackends

# Fields that name, place or price a result but do not change what is measured: left out of the config hash.
_NOT_HASHED = ("name", "output_dir", "carbon_intensity_g_per_kwh", "price_per_kwh", "currency")


def load_experiment(
    source: str | Path | Mapping[str, Any],
    *,
    overrides: Iterable[str] = (),
    plugins: InstalledBackends,
) -> ExperimentBase:
    """Read, override and validate an experiment config against the installed backends (`plugins`, the
    caller's plugin manager); raises ConfigError with a one-line message."""
    if isinstance(source, Mapping):
        data, where, base_dir = dict(source), None, Path.cwd()
    else:
        data, where, base_dir = read_file(source), str(source), Path(source).resolve().parent
    overrides = list(overrides)
    data = _switch_backend(data, apply_overrides(data, overrides), overrides)
    _check_backend_names(data, plugins, where)
    _resolve_prompt_path(data, base_dir)
    return convert(data, plugins.experiment_type(), source=where)


def _switch_backend(before: dict[str, Any], after: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`--set backend=vllm` on a pytorch config drops the file's `pytorch:` section (it cannot apply), unless
    an override of that section itself asks to keep it (then the usual "does not apply" error follows)."""
    old = before.get("backend")
    if not isinstance(old, str) or after.get("backend") == old or not isinstance(after.get(old), dict):
        return after
    if any(parse_override(item)[0][0] == old for item in overrides):
        return after
    return {k: v for k, v in after.items() if k != old}


def _check_backend_names(data: dict[str, Any], plugins: InstalledBackends, where: str | None) -> None:
    """Say 'not installed' rather than msgspec's 'unknown field' for backends that exist but are missing
    here."""
    installed = plugins.backends
    known = plugins.known_names()
    for key in data:
        if key in known and key not in installed:
            raise ConfigError(f"$.{key}: {plugins.unavailable_reason(key)}", source=where)
    backend = data.get("backend")
    if isinstance(backend, str) and backend not in installed:
        raise ConfigError(f"$.backend: {plugins.unavailable_reason(backend)}", source=where)


def _resolve_prompt_path(data: dict[str, Any], base_dir: Path) -> None:
    """Default `prompts.source` to synthetic, and make a file path relative to the config file's folder."""
    prompts = data.get("prompts")
    if isinstance(prompts, dict) and "source" not in prompts:
        prompts["source"] = "synthetic"
    if isinstance(prompts, dict) and prompts.get("source") == "file" and isinstance(prompts.get("path"), str):
        path = Path(prompts["path"]).expanduser()
        if not path.is_absolute():
            prompts["path"] = str(base_dir / path)


def to_dict(config: msgspec.Struct) -> dict[str, Any]:
    """The fully resolved config as plain data (every default filled in).

    An experiment's sections for other backends are always null, and which of them exist depends on the
    plugins installed here: they are left out, so the same experiment reads the same on every machine.
    """
    data: dict[str, Any] = msgspec.to_builtins(config)
    if isinstance(config, ExperimentBase):
        for name in config.__sections__:
            if name != config.backend and data.get(name) is None:
                data.pop(name, None)
    return data


def config_hash(config: ExperimentBase) -> str:
    """A short, stable hash of everything that affects what is measured (not the name or output folder).

    Independent of the plugins installed (see to_dict); mapping keys are hashed as strings, so a mapping
    with int and str keys (e.g. `pytorch.max_memory: {0: 10GiB, cpu: 50GiB}`) hashes like its JSON form.
    """
    data = {k: v for k, v in to_dict(config).items() if k not in _NOT_HASHED}
    blob = msgspec.json.encode(msgspec.to_builtins(data, str_keys=True), order="sorted")
    return hashlib.sha256(blob).hexdigest()[:16]
