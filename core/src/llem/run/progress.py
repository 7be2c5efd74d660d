"""Progress events the lifecycle emits (the CLI renders them; the Python API may ignore them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

Stage = Literal[
    "validate", "build", "load", "warmup", "baseline", "settle", "measure", "prefill", "unload", "write"
]

#: the stages that measure something (time or energy): nothing else of llem's may run beside them
MEASURING_STAGES: frozenset[Stage] = frozenset({"baseline", "settle", "warmup", "measure", "prefill"})


class ProgressEvent(msgspec.Struct, kw_only=True, frozen=True):
    """One step of the lifecycle: a stage starts, advances (batch k of n) or is done."""

    stage: Stage
    state: Literal["start", "advance", "done"]
    current: int | None = None
    total: int | None = None
    detail: str | None = None


Progress = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """The default: report nothing."""
