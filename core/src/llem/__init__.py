"""llem: measure what LLM inference costs (energy, throughput, latency) on any backend.

Python API (each name is imported on first use, so `import llem` stays fast):

    result = llem.run("experiment.yaml", overrides=["pytorch.batch_size=8"])   # -> ExperimentResult
    config = llem.load_config("experiment.yaml")
    with llem.measure() as m: ...                                # m.energy_j, m.bound_j, m.duration_s
    manifest = llem.study.plan("study.yaml"); llem.study.run("study.yaml")
    llem.results.load(folder)   # a result folder -> ExperimentResult; a study folder -> pandas DataFrame
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llem.version import __version__

if TYPE_CHECKING:
    from llem import measure, results, run, study
    from llem.run.api import load_config

__all__ = ["__version__", "load_config", "measure", "results", "run", "study"]

_PACKAGES = ("measure", "results", "run", "study")


def __getattr__(name: str) -> Any:
    if name in _PACKAGES:
        return importlib.import_module(f"llem.{name}")
    if name == "load_config":
        # deferred: `import llem` (which every `llem.x` import runs) must not load the run layer
        from llem.run.api import load_config

        return load_config
    raise AttributeError(f"module 'llem' has no attribute {name!r}")
