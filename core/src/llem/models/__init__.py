"""Bundled architectures for random-weight models (model: random:NAME), and facts about any model's shape."""

from llem.models.architectures import RANDOM_PREFIX, architecture, is_random, list_architectures, random_name
from llem.models.info import ModelInfo, model_info

__all__ = [
    "RANDOM_PREFIX",
    "ModelInfo",
    "architecture",
    "is_random",
    "list_architectures",
    "model_info",
    "random_name",
]
