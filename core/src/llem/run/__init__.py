"""The experiment lifecycle and its Python API: `run_experiment(config) -> ExperimentResult`."""

from llem.run.lifecycle import run_experiment
from llem.run.progress import ProgressEvent

__all__ = ["ProgressEvent", "run_experiment"]
