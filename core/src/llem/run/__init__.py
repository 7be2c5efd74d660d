"""The experiment lifecycle and its Python API: `run_experiment(config) -> ExperimentResult`,
`run_experiments(config) -> list[ExperimentResult]` (one per request rate of a load section).

The package is also callable: `llem.run(config_or_path, overrides=..., output_dir=...)` is `llem.run.api.run`.
"""

from llem._callable import make_callable
from llem.run.lifecycle import run_experiment, run_experiments
from llem.run.progress import ProgressEvent

__all__ = ["ProgressEvent", "run_experiment", "run_experiments"]

make_callable(__name__, "llem.run.api:run")
