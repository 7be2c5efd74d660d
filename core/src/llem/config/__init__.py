"""Experiment configuration: msgspec Structs, loading, validation and introspection."""

from llem.config.base import Section
from llem.config.decoder import DecoderConfig
from llem.config.experiment import ExperimentBase
from llem.config.measurement import MeasurementConfig
from llem.config.prompts import DatasetPrompts, FilePrompts, SyntheticPrompts

__all__ = [
    "DatasetPrompts",
    "DecoderConfig",
    "ExperimentBase",
    "FilePrompts",
    "MeasurementConfig",
    "Section",
    "SyntheticPrompts",
]
