"""Split prompts into the batches the backend runs, per the batching contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import msgspec

if TYPE_CHECKING:
    from llem.config.base import Section
    from llem.plugins.types import Capabilities

T = TypeVar("T")


def batch_size(section: Section, caps: Capabilities, n_prompts: int) -> int:
    """Prompts per `generate` call.

    The section field the backend declares as its batch size (`Capabilities.batch_size_field`, None: 1)
    when the section has it; else, for a continuous-batching engine, all prompts at once (the engine
    schedules them); else one prompt per call.
    """
    fields = {f.name for f in msgspec.structs.fields(type(section))}
    name = caps.batch_size_field
    if name is not None and name in fields:
        return getattr(section, name) or 1
    if caps.continuous_batching:
        return n_prompts
    return 1


def split(items: list[T], size: int) -> list[list[T]]:
    """Consecutive chunks of `size` (the last may be shorter)."""
    if size < 1:
        raise ValueError("batch size must be >= 1")
    return [items[i : i + size] for i in range(0, len(items), size)]
