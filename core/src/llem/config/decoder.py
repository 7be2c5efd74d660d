"""Decoding (sampling) settings shared by every backend, with named presets.

Precedence: a preset fills only the fields the user did not set; an explicit field always wins
over the preset.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args

import msgspec
from msgspec import UNSET, Meta, UnsetType

from llem.config.base import Section

PresetName = Literal["deterministic", "standard", "creative", "factual"]

# Fields that only shape sampling: no effect under greedy decoding.
SAMPLING_ONLY = ("temperature", "top_k", "top_p", "min_p")
# Fields the core itself resolves (a preset expands into the others): never a backend's concern.
CORE_ONLY = ("preset",)

# Field values each preset expands to. Checked against DecoderConfig's constraints at import (_check_presets).
PRESETS: dict[str, dict[str, Any]] = {
    "deterministic": {"temperature": 0.0, "do_sample": False},
    "standard": {"temperature": 1.0, "do_sample": True, "top_k": 50, "top_p": 0.95},
    "creative": {"temperature": 1.2, "do_sample": True, "top_k": 0, "top_p": 0.95, "repetition_penalty": 1.1},
    "factual": {"temperature": 0.3, "do_sample": True, "top_k": 10, "top_p": 0.9, "repetition_penalty": 1.05},
}


class DecoderConfig(Section):
    """How tokens are chosen. `temperature: 0` or `do_sample: false` means greedy decoding."""

    # Defaults of the preset-able fields; a field left unset takes the preset's value, else this one.
    __defaults__: ClassVar[dict[str, Any]] = {
        "temperature": 1.0,
        "do_sample": True,
        "top_k": 50,
        "top_p": 1.0,
        "repetition_penalty": 1.0,
    }

    preset: Annotated[
        PresetName | None,
        Meta(description="Named bundle of sampling values; fields set explicitly override the preset."),
    ] = None
    temperature: (
        Annotated[float, Meta(ge=0.0, le=2.0, description="Sampling temperature; 0 means greedy decoding.")]
        | UnsetType
    ) = UNSET
    do_sample: (
        Annotated[bool, Meta(description="Sample from the distribution; false means greedy.")] | UnsetType
    ) = UNSET
    top_k: (
        Annotated[int, Meta(ge=0, description="Keep only the k most likely tokens; 0 disables the filter.")]
        | UnsetType
    ) = UNSET
    top_p: (
        Annotated[float, Meta(ge=0.0, le=1.0, description="Nucleus sampling: smallest set with this mass.")]
        | UnsetType
    ) = UNSET
    repetition_penalty: (
        Annotated[float, Meta(ge=0.1, le=10.0, description="Penalty on tokens already generated; 1 is none.")]
        | UnsetType
    ) = UNSET
    min_p: Annotated[
        Annotated[float, Meta(ge=0.0, le=1.0)] | None,
        Meta(description="Drop tokens below min_p × the top token's probability (None: off)."),
    ] = None
    min_new_tokens: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="Generate at least this many tokens (None: the backend's default, no minimum)."),
    ] = None

    def __post_init__(self) -> None:
        values = PRESETS[self.preset] if self.preset else {}
        for name, default in self.__defaults__.items():
            if getattr(self, name) is UNSET:
                setattr(self, name, values.get(name, default))
        super().__post_init__()

    @property
    def greedy(self) -> bool:
        """True when decoding is greedy (temperature 0 or do_sample false)."""
        return self.temperature == 0.0 or not self.do_sample

    @property
    def strategy(self) -> Literal["greedy", "sampling"]:
        return "greedy" if self.greedy else "sampling"


def _check_presets() -> None:
    """A bad preset table is a bug: fail at import, not in a user's run."""
    for name, values in PRESETS.items():
        unknown = set(values) - set(DecoderConfig.__defaults__)
        if unknown:
            raise AssertionError(f"decoder preset {name!r} sets non-preset fields {sorted(unknown)}")
        try:
            msgspec.convert(values, DecoderConfig)
        except msgspec.ValidationError as exc:  # pragma: no cover - only a broken table reaches this
            raise AssertionError(f"decoder preset {name!r} is invalid: {exc}") from exc
    if set(PRESETS) != set(get_args(PresetName)):
        raise AssertionError("decoder PRESETS and PresetName disagree")


_check_presets()
