"""`llem.run(config_or_path)`: run one experiment from Python, as `llem run` does from the shell."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llem.config.experiment import ExperimentBase
from llem.config.resolve import load_experiment, to_dict
from llem.plugins.manager import LlemPlugins, get_plugin_manager
from llem.run.lifecycle import run_experiment

if TYPE_CHECKING:
    from llem.results.schema import ExperimentResult
    from llem.run.progress import Progress


def run(
    config_or_path: ExperimentBase | Mapping[str, Any] | str | Path,
    *,
    overrides: Iterable[str] = (),
    output_dir: str | Path | None = None,
    plugins: LlemPlugins | None = None,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Run one experiment and write its result folder; returns the result (status "ok" or "failed").

    config_or_path: a config file (YAML/JSON), a dict, or a config from `llem.load_config`. overrides:
    `"key.path=value"` strings, as `--set`. output_dir: where the result folder goes (default: the config's
    output_dir); the folder is `output_dir / result.experiment_id` (a note in `result.notes` says where it
    went instead if that could not be written). Raises llem.errors.UserError for a config that cannot run
    here, before anything loads.
    """
    if plugins is None:
        plugins = get_plugin_manager()
    overrides = list(overrides)
    if isinstance(config_or_path, ExperimentBase):
        config = config_or_path
        if overrides:
            config = load_experiment(to_dict(config), overrides=overrides, plugins=plugins)
    else:
        config = load_experiment(config_or_path, overrides=overrides, plugins=plugins)
    return run_experiment(config, plugins=plugins, output_dir=output_dir, progress=progress)


def load_config(
    source: str | Path | Mapping[str, Any],
    *,
    overrides: Iterable[str] = (),
    plugins: LlemPlugins | None = None,
) -> ExperimentBase:
    """Read, override and validate an experiment config (a file or a dict); raises ConfigError (one line).

    Without `plugins`, the installed backends are discovered afresh."""
    if plugins is None:
        plugins = get_plugin_manager()
    return load_experiment(source, overrides=overrides, plugins=plugins)
