"""Decoder intent: which shared decoder settings a backend applies for this config, and which have no effect.

Every backend maps `decoder:` to its library's arguments; the rules of what to send are the same everywhere
and live here: greedy decoding (temperature 0 or do_sample false) sends no sampling-only parameter, and a
field left None sends nothing. The output length is the batch's (exactly `max_new_tokens` under
fixed_output_length). What is not applied is recorded as ignored, with the reason, so a result never
presents an unused setting as applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec

from llem.config.decoder import CORE_ONLY, SAMPLING_ONLY

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.types import Capabilities

__all__ = ["CORE_ONLY", "SAMPLING_ONLY", "DecoderIntent", "decoder_intent"]


class DecoderIntent(msgspec.Struct, kw_only=True, frozen=True):
    """What a backend should do with `decoder:` for one config (recorded in the result as `decoder`)."""

    strategy: Literal["greedy", "sampling"]
    applied: dict[str, Any]
    ignored: dict[str, str]


def decoder_intent(config: ExperimentBase, caps: Capabilities) -> DecoderIntent:
    """The shared decoder settings to apply (field -> value, in llem's names) and those ignored, with why.

    Backends translate `applied` to their library's names; a field absent from `applied` must not be sent.
    The output length is the batch's business (`batch.fixed_output_length`: exactly `batch.max_new_tokens`).
    """
    dec = config.decoder
    strategy = dec.strategy
    applied: dict[str, Any] = {"do_sample": strategy == "sampling"}
    ignored: dict[str, str] = {}
    for field in msgspec.structs.fields(dec):
        name = field.name
        value = getattr(dec, name)
        if name in CORE_ONLY or name == "do_sample":
            continue
        if name == "min_new_tokens" and config.fixed_output_length:
            continue  # the batch's fixed_output_length rules (the core checks every batch's counts)
        if value is None:
            continue
        if name not in caps.decoder_params:
            ignored[name] = "the backend does not implement it (its capabilities do not list it)"
        elif strategy == "greedy" and name in SAMPLING_ONLY:
            ignored[name] = "greedy decoding: sampling parameters have no effect"
        else:
            applied[name] = value
    return DecoderIntent(strategy=strategy, applied=applied, ignored=ignored)
