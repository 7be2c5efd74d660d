"""Experiment results: the result Struct, metric computations, atomic writers and the reader."""

from llem.results.load import load, load_result
from llem.results.schema import SCHEMA_VERSION, Energy, ExperimentResult, LatencyStats, Metrics, Timings

__all__ = [
    "SCHEMA_VERSION",
    "Energy",
    "ExperimentResult",
    "LatencyStats",
    "Metrics",
    "Timings",
    "load",
    "load_result",
]
