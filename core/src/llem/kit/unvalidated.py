"""Escape-hatch bookkeeping: what reaches a library without llem validating it, as the result records it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import msgspec.inspect as mi

if TYPE_CHECKING:
    from llem.config.base import Section
    from llem.config.experiment import ExperimentBase


def escape_hatch_fields(section: type[Section]) -> list[str]:
    """Fields of a backend section declared with `Meta(extra=escape_hatch())`."""
    info = mi.type_info(section)
    assert isinstance(info, mi.StructType)
    out = []
    for field in info.fields:
        t = field.type
        extra: dict[str, Any] = {}
        while isinstance(t, mi.Metadata):
            extra.update(t.extra or {})
            t = t.type
        if extra.get("escape_hatch"):
            out.append(field.name)
    return out


def unvalidated_settings(config: ExperimentBase) -> dict[str, Any]:
    """`passthrough_kwargs` and every escape-hatch field of the backend's section that is set, by path."""
    out: dict[str, Any] = {}
    if config.passthrough_kwargs:
        out["passthrough_kwargs"] = dict(config.passthrough_kwargs)
    section = config.section()
    for name in escape_hatch_fields(type(section)):
        value = getattr(section, name, None)
        if value:
            out[f"{config.backend}.{name}"] = msgspec.to_builtins(value)
    return out


def unvalidated_keys(config: ExperimentBase) -> list[str]:
    """The names that reach the library unvalidated, for a one-line note (`NAME.extra_args.key`, ...)."""
    keys = []
    for path, value in unvalidated_settings(config).items():
        keys += [f"{path}.{k}" for k in sorted(value)] if isinstance(value, dict) else [path]
    return keys
