"""The experiment lifecycle and its Python API: `run_experiment(config) -> ExperimentResult`,
`run_experiments(config) -> list[ExperimentResult]` (one per request rate of a load section)."""

from llem.run.lifecycle import run_experiment, run_experiments
from llem.run.progress import ProgressEvent

__all__ = ["ProgressEvent", "run_experiment", "run_experiments"]
