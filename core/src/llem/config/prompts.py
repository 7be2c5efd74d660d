"""Where prompts come from: synthetic token ids, a local file, or a Hugging Face dataset."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from llem.config.base import Section
from llem.config.rules import custom


class SyntheticPrompts(Section, tag="synthetic", tag_field="source"):
    """Random token ids with a length distribution; needs no tokenizer data and no download."""

    __rules__ = (
        custom(
            ("min_input_tokens",),
            lambda o: o.distribution == "fixed" and o.min_input_tokens is not None,
            message="min_input_tokens only applies to distribution uniform or normal",
            reason="a fixed distribution uses max_input_tokens for every prompt",
            resolution="remove min_input_tokens, or choose distribution: uniform",
        ),
    )

    distribution: Annotated[
        Literal["fixed", "uniform", "normal"],
        Meta(
            description="Prompt length distribution: fixed (every prompt max_input_tokens long), uniform in "
            "[min_input_tokens, max_input_tokens], or normal around mean_input_tokens clipped to that range."
        ),
    ] = "fixed"
    min_input_tokens: Annotated[
        Annotated[int, Meta(ge=1)] | None, Meta(description="Shortest prompt for uniform/normal (None: 1).")
    ] = None
    mean_input_tokens: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="Mean length for normal (None: midpoint of the range)."),
    ] = None
    std_input_tokens: Annotated[
        Annotated[float, Meta(ge=0.0)] | None,
        Meta(description="Standard deviation for normal (None: a sixth of the range)."),
    ] = None


class FilePrompts(Section, tag="file", tag_field="source"):
    """Prompts from a local file: JSON Lines (one object per line) or plain text (one prompt per line)."""

    path: Annotated[str, Meta(description="Path to the prompt file (relative to the config file's folder).")]
    format: Annotated[
        Literal["jsonl", "text"] | None,
        Meta(description="File format (None: from the extension; .jsonl is JSON Lines, anything else text)."),
    ] = None
    field: Annotated[str, Meta(description="JSON Lines: the key holding the prompt text.")] = "prompt"


class DatasetPrompts(Section, tag="dataset", tag_field="source"):
    """Prompts from a Hugging Face dataset (needs the `datasets` package and network access)."""

    id: Annotated[str, Meta(description="Dataset id on the Hugging Face hub, e.g. 'tatsu-lab/alpaca'.")]
    split: Annotated[str, Meta(description="Dataset split.")] = "train"
    column: Annotated[str, Meta(description="Column holding the prompt text.")] = "text"
    subset: Annotated[str | None, Meta(description="Dataset configuration name, if it has several.")] = None


PromptsConfig = SyntheticPrompts | FilePrompts | DatasetPrompts
