"""Model path resolution: what a backend hands its library for `config.model`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.models.architectures import is_random, random_name
from llem.models.build import random_checkpoint

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase


def model_path(config: ExperimentBase) -> str:
    """A local folder or hub id for the library.

    `random:NAME` builds (once, cached) the bundled architecture with random weights seeded by
    `config.random_seed` (safetensors and a tokenizer, loadable by any library); a hub id or a local path is
    passed as given. Building needs torch and transformers (a backend's dependencies)."""
    if is_random(config.model):
        return str(random_checkpoint(random_name(config.model), seed=config.random_seed))
    return config.model
