"""The installed backends' declared capabilities as tables: capability -> backend -> value, and Markdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from llem.plugins.manager import LlemPlugins


def get_backend_capabilities(plugins: LlemPlugins) -> dict[str, dict[str, Any]]:
    """capability -> backend -> value, from each backend's `llem_capabilities`."""
    caps = {name: plugins.backend(name).capabilities() for name in sorted(plugins.backends)}
    table: dict[str, dict[str, Any]] = {}
    for field in msgspec.structs.fields(next(iter(caps.values()))) if caps else ():
        table[field.name] = {name: getattr(c, field.name) for name, c in caps.items()}
    return table


def get_decoder_param_support(plugins: LlemPlugins) -> dict[str, list[str]]:
    return {k: list(v) for k, v in get_backend_capabilities(plugins).get("decoder_params", {}).items()}


def get_precision_support(plugins: LlemPlugins) -> dict[str, list[str]]:
    return {k: list(v) for k, v in get_backend_capabilities(plugins).get("precisions", {}).items()}


def get_decoding_support(plugins: LlemPlugins) -> dict[str, list[str]]:
    return {k: list(v) for k, v in get_backend_capabilities(plugins).get("decoding_strategies", {}).items()}


def get_capability_matrix_markdown(plugins: LlemPlugins) -> str:
    """The capability matrix as a Markdown table (one row per capability, one column per backend)."""
    table = get_backend_capabilities(plugins)
    backends = sorted({b for row in table.values() for b in row})
    if not backends:
        return "_No backends installed._\n"
    lines = ["| Capability | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
    for cap, row in table.items():
        cells = [_cell(row.get(b)) for b in backends]
        lines.append(f"| {cap.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "—"
    return str(value)
