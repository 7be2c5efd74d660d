"""Capabilities enforced: a config asking a backend for what it declares unsupported is refused before
loading.

The same check prunes study points (with the reason) and fails `config validate` and `run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from llem.config.decoder import CORE_ONLY, SAMPLING_ONLY, DecoderConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.types import Capabilities


def capability_problems(config: ExperimentBase, caps: Capabilities) -> list[str]:
    """One line per setting of `config` that backend `config.backend` declares it does not support."""
    name = config.backend
    problems = []
    if config.precision not in caps.precisions:
        problems.append(
            f"precision: {config.precision} is not supported by backend {name!r} "
            f"(supported: {', '.join(caps.precisions)})"
        )
    strategy = config.decoder.strategy
    if strategy not in caps.decoding_strategies:
        fix = "set decoder.do_sample: false" if strategy == "sampling" else "set decoder.do_sample: true"
        problems.append(
            f"decoder: {strategy} decoding is not supported by backend {name!r} "
            f"(supported: {', '.join(caps.decoding_strategies)}); {fix}"
        )
    defaults = DecoderConfig()
    for f in msgspec.structs.fields(DecoderConfig):
        field = f.name
        if field in caps.decoder_params or field in (*CORE_ONLY, "do_sample"):
            continue
        if strategy == "greedy" and field in SAMPLING_ONLY:
            continue  # greedy decoding ignores it anyway (recorded as ignored in the result)
        value = getattr(config.decoder, field)
        if value != getattr(defaults, field):  # the default is what any backend does without the setting
            problems.append(
                f"decoder.{field}: backend {name!r} does not implement it (it honours: "
                f"{', '.join(p for p in caps.decoder_params if p not in CORE_ONLY) or 'none'}); remove it"
            )
    return problems
