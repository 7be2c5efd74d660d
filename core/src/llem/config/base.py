"""The base Struct every config section derives from, and reusable constrained types."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from llem.config.rules import Rule


class Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A config section: unknown fields are errors; cross-field rules live in `__rules__`.

    Backends derive their section (`pytorch:`, `vllm:`, ...) from this class. Declare GPU requirements on a
    field with `Meta(extra=gpu(...))` so introspection and validation pick them up.
    """

    __rules__: ClassVar[tuple[Rule, ...]] = ()

    def __post_init__(self) -> None:
        for rule in type(self).__rules__:
            rule.check(self)


def gpu(
    min_cc: float | None = None,
    *,
    values: dict[str, float] | None = None,
    needs_cuda: tuple[str, ...] | bool = (),
    note: str | None = None,
) -> dict[str, Any]:
    """Declare a field's GPU requirements for `Meta(extra=...)`.

    min_cc: compute capability the field needs whenever it is enabled; values: per allowed value (e.g.
    {"flash_attention_3": 9.0}); needs_cuda: values (or True for the whole field) that cannot
    run without CUDA.
    """
    out: dict[str, Any] = {}
    if min_cc is not None:
        out["min_compute_capability"] = min_cc
    if values:
        out["value_min_compute_capability"] = dict(values)
    if needs_cuda:
        out["needs_cuda"] = True if isinstance(needs_cuda, bool) else list(needs_cuda)
    if note:
        out["gpu_note"] = note
    return out


def escape_hatch() -> dict[str, Any]:
    """Mark a dict field as an escape hatch for `Meta(extra=...)`: its keys reach the library unvalidated, and
    the result records them under `unvalidated`."""
    return {"escape_hatch": True}


def desc(text: str, **meta: Any) -> msgspec.Meta:
    """A `Meta` with a description (shorthand used by every section)."""
    return msgspec.Meta(description=text, **meta)


PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
