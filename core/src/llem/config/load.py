"""Read an experiment config from YAML, JSON or a dict, apply `--set` overrides, validate, and name errors."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from llem.config.introspect import allowed_values_at
from llem.errors import ConfigError

T = TypeVar("T")

_MSGSPEC_ERROR = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)


def format_validation_error(exc: msgspec.ValidationError) -> str:
    """msgspec's 'Expected `int` >= 1 - at `$.a.b`' as '$.a.b: Expected int >= 1' (one line)."""
    m = _MSGSPEC_ERROR.match(str(exc))
    assert m is not None
    msg = m["msg"].replace("`", "").replace("\n", " ")
    return f"{m['path'] or '$'}: {msg}"


def read_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON config file into a dict; a missing or malformed file is a
    ConfigError naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", source=str(path)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read ({exc.__class__.__name__})", source=str(path)) from None
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON: one parser for both
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}invalid YAML ({problem})", source=str(path)) from None
    if data is None:
        raise ConfigError("file is empty", source=str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}", source=str(path))
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """'a.b.c=value' -> (['a','b','c'], value), the value parsed as YAML (so 4 is an int, true a bool)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ConfigError(f"expected KEY=VALUE with a dotted KEY, got {item!r}", source="--set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of `data` with each 'a.b.c=value' set; missing intermediate mappings are created."""
    out = copy.deepcopy(dict(data))
    for item in overrides:
        path, value = parse_override(item)
        node = out
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(path[: i + 1])
                raise ConfigError(f"cannot set {'.'.join(path)}: {where} is not a mapping", source="--set")
            node = child
        node[path[-1]] = value
    return out


def convert(data: Mapping[str, Any], type_: type[T], *, source: str | None = None) -> T:
    """Validate `data` into `type_`; errors become a one-line ConfigError naming the path."""
    try:
        return msgspec.convert(data, type_, strict=True)
    except msgspec.ValidationError as exc:
        message = format_validation_error(exc)
        path, _, text = message.partition(": ")
        if (
            text.startswith(("Invalid enum value", "Invalid value"))
            and isinstance(type_, type)
            and issubclass(type_, msgspec.Struct)
        ):
            allowed = allowed_values_at(type_, path)
            if allowed:
                message += f" (allowed: {', '.join(map(str, allowed))})"
        raise ConfigError(message, source=source) from None
