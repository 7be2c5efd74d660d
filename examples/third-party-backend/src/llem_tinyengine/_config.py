"""The `tinyengine:` section of the experiment config."""

from __future__ import annotations

from typing import Annotated, Any

from llem.config import Section
from llem.config.base import escape_hatch
from llem.config.rules import requires
from msgspec import Meta


class TinyEngineConfig(Section):
    """Settings of the tiny engine. None means the engine's own default."""

    __rules__ = (
        requires(("mix_rounds",), "hash_tokens", True, reason="mixing only applies to hashed tokens"),
    )

    batch_size: Annotated[
        Annotated[int, Meta(ge=1)] | None, Meta(description="Prompts per generate call.")
    ] = None
    hash_tokens: Annotated[
        bool | None,
        Meta(description="Derive each greedy token from a hash of the previous one (default: true)."),
    ] = None
    mix_rounds: Annotated[
        Annotated[int, Meta(ge=1, le=64)] | None,
        Meta(description="Rounds of integer mixing per token: the engine's work per step (default: 4)."),
    ] = None
    extra_args: Annotated[
        dict[str, Any] | None,
        Meta(description="Escape hatch: recorded in the result as unvalidated.", extra=escape_hatch()),
    ] = None
