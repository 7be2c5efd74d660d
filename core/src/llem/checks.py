"""`llem config validate` as a library call: check an experiment or a study file the way `run` would.

An experiment file gets exactly the static checks `llem run` makes before loading anything; a study file (one
with a `base:`) is expanded as `llem study plan` would, and is valid when at least one point can run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from llem.config.load import read_file
from llem.config.resolve import load_experiment
from llem.errors import ConfigError, UserError
from llem.plugins.validate import validate_experiment
from llem.study.api import plan

if TYPE_CHECKING:
    from llem.plugins.manager import LlemPlugins
    from llem.plugins.types import DeviceInfo


class FileCheck:
    """What checking one file found: problems (each one line, naming the file) and a summary when valid."""

    def __init__(self, problems: list[str], summary: str = "ok") -> None:
        self.problems = problems
        self.summary = summary


def check_file(
    path: str | Path, *, overrides: Iterable[str], plugins: LlemPlugins, device: DeviceInfo
) -> FileCheck:
    """Check one experiment or study file for this machine and these plugins."""
    where = str(path)
    try:
        data = read_file(path)
        if isinstance(data, dict) and "base" in data:
            return _check_study(path, overrides, plugins, device)
        config = load_experiment(path, overrides=overrides, plugins=plugins)
        problems = validate_experiment(config, device, plugins)
    except ConfigError as exc:
        return FileCheck([str(exc) if exc.source else f"{where}: {exc}"])
    except UserError as exc:
        return FileCheck([f"{where}: {exc}" if not exc.source else str(exc)])
    return FileCheck([f"{where}: {p}" for p in problems])


def _check_study(
    path: str | Path, overrides: Iterable[str], plugins: LlemPlugins, device: DeviceInfo
) -> FileCheck:
    if list(overrides):
        raise UserError("--set applies to experiment files, not study files", source=str(path))
    manifest = plan(path, plugins=plugins, device=device)
    if not manifest.points:
        reasons = "; ".join(dict.fromkeys(p.reason for p in manifest.pruned)) or "nothing to run"
        return FileCheck([f"{path}: no experiment of this study can run here: {reasons}"])
    pruned = f", {len(manifest.pruned)} pruned (llem study plan shows why)" if manifest.pruned else ""
    n = len(manifest.points)
    return FileCheck([], f"ok (study: {n} experiment{'s' if n != 1 else ''}{pruned})")
