"""Prompts for an experiment: the measured set and warm-up prompts that never share a prefix with it."""

from llem.prompts.sets import PromptSet
from llem.prompts.source import load_prompts

__all__ = ["PromptSet", "load_prompts"]
