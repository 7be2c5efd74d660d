"""Pick the prompt source named by `config.prompts` and return measured and warm-up prompts.

Warm-up prompts must differ from the measured ones from their first token: engines with prefix caching (vLLM
enables it by default) would otherwise serve the measured prefill from cache and make it look nearly free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.config.prompts import DatasetPrompts, FilePrompts, SyntheticPrompts
from llem.prompts.files import read_prompt_file
from llem.prompts.hub import read_dataset
from llem.prompts.sets import PromptSet, text_prompt_set
from llem.prompts.synthetic import synthetic_prompt_set

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase


def load_prompts(config: ExperimentBase) -> PromptSet:
    """Measured and warm-up prompts for `config` (a UserError naming the field or file on bad input)."""
    spec = config.prompts
    if isinstance(spec, SyntheticPrompts):
        return synthetic_prompt_set(config, spec)
    if isinstance(spec, FilePrompts):
        texts = read_prompt_file(spec)
        return text_prompt_set(texts, config.n_prompts, source=f"file:{spec.path}", origin=spec.path)
    if isinstance(spec, DatasetPrompts):
        texts = read_dataset(spec, limit=2 * config.n_prompts)
        return text_prompt_set(
            texts, config.n_prompts, source=f"dataset:{spec.id}", origin=f"dataset {spec.id}"
        )
    raise AssertionError(f"unhandled prompt source {type(spec).__name__}")  # pragma: no cover
