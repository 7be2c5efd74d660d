"""Cross-field rules, declared once: enforcement and introspection both read the same declaration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

RuleKind = Literal["exclusive", "requires", "conflicts", "custom"]


@dataclass(frozen=True)
class Rule:
    """One cross-field rule of a config Struct.

    `violated(obj)` is true when the rule is broken; `message` is what the user reads, `reason` why the rule
    exists, `resolution` what to change. `fields` are the fields the rule constrains (relative to the Struct).
    """

    kind: RuleKind
    fields: tuple[str, ...]
    violated: Callable[[Any], bool] = field(compare=False, repr=False)
    message: str
    reason: str
    resolution: str
    # For "requires" / "conflicts": the field and value the constrained fields depend on.
    condition: tuple[str, Any] | None = None

    def check(self, obj: Any) -> None:
        if self.violated(obj):
            raise ValueError(self.message)


def _is_set(value: Any) -> bool:
    return value is not None and value is not False


def exclusive(a: str, b: str, *, reason: str) -> Rule:
    """`a` and `b` cannot both be enabled."""
    return Rule(
        kind="exclusive",
        fields=(a, b),
        violated=lambda o: _is_set(getattr(o, a)) and _is_set(getattr(o, b)),
        message=f"{a} and {b} are mutually exclusive",
        reason=reason,
        resolution=f"set only one of {a} and {b}",
    )


def requires(dependents: tuple[str, ...], on: str, value: Any = True, *, reason: str) -> Rule:
    """Each of `dependents`, when set (not None), needs `on == value`."""
    names = "/".join(dependents)
    return Rule(
        kind="requires",
        fields=dependents,
        violated=lambda o: any(getattr(o, d) is not None for d in dependents) and getattr(o, on) != value,
        message=f"{names} requires {on}={_show(value)}",
        reason=reason,
        resolution=f"set {on}: {_show(value)}, or remove {names}",
        condition=(on, value),
    )


def conflicts(subject: str, on: str, value: Any, *, reason: str) -> Rule:
    """`subject`, when set (not None), cannot be combined with `on == value` (None for `on` is fine)."""
    return Rule(
        kind="conflicts",
        fields=(subject,),
        violated=lambda o: getattr(o, subject) is not None and getattr(o, on) == value and value is not None,
        message=f"{subject} contradicts {on}={_show(value)}",
        reason=reason,
        resolution=f"remove {subject}, or remove {on}: {_show(value)}",
        condition=(on, value),
    )


def custom(
    fields: tuple[str, ...], violated: Callable[[Any], bool], *, message: str, reason: str, resolution: str
) -> Rule:
    """Any other rule; `violated(obj)` decides."""
    return Rule(
        kind="custom", fields=fields, violated=violated, message=message, reason=reason, resolution=resolution
    )


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)
