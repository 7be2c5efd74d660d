"""The config reference in Markdown, generated from the Structs (docs/config-reference.md is its output)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from llem.config.introspect import ParamInfo, get_backend_params, get_shared_params, get_validation_rules

if TYPE_CHECKING:
    from llem.config.installed import InstalledBackends

HEADER = """# Config reference

Generated from the config Structs by `llem config reference` (do not edit by hand: a test fails when \
this file and
the code disagree). `null` as a default means "the backend's own default": llem passes no argument at all.
"""


def _fmt(value: Any) -> str:
    return "`" + json.dumps(value) + "`"


def _allowed(p: ParamInfo) -> str:
    if p.allowed_values is not None:
        return ", ".join(_fmt(v) for v in p.allowed_values)
    parts = [f"{op} {v:g}" for op, v in (("≥", p.ge), (">", p.gt), ("≤", p.le), ("<", p.lt)) if v is not None]
    return " and ".join(parts)


def _gpu(p: ParamInfo) -> str:
    if not p.gpu:
        return ""
    bits = []
    if "min_compute_capability" in p.gpu:
        bits.append(f"compute capability {p.gpu['min_compute_capability']}+")
    for value, cc in p.gpu.get("value_min_compute_capability", {}).items():
        bits.append(f"`{value}`: compute capability {cc}+")
    cuda = p.gpu.get("needs_cuda")
    if cuda is True:
        bits.append("needs CUDA")
    elif cuda:
        bits.append(", ".join(f"`{v}`" for v in cuda) + ": needs CUDA")
    if p.gpu.get("gpu_note"):
        bits.append(p.gpu["gpu_note"])
    return " GPU: " + "; ".join(bits) + "."


def _table(params: list[ParamInfo]) -> list[str]:
    lines = ["| Parameter | Type | Default | Allowed | Description |", "|---|---|---|---|---|"]
    for p in params:
        typ = p.type.replace("|", "\\|") + (" \\| null" if p.nullable else "")
        default = "required" if p.required else _fmt(p.default)
        variant = f" (source: {p.variant})" if p.variant else ""
        desc = (p.description + variant + _gpu(p)).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{p.path}` | {typ} | {default} | {_allowed(p)} | {desc} |")
    return lines


def _rules(owner: str, plugins: InstalledBackends) -> list[str]:
    rules = [r for r in get_validation_rules(plugins) if r["backend"] == owner]
    if not rules:
        return []
    out = ["", "Rules checked across fields:", ""]
    for r in rules:
        out.append(f"- {r['combination']}: {r['reason']} (fix: {r['resolution']}).")
    return out


def render_config_reference(plugins: InstalledBackends) -> str:
    """The whole reference: shared parameters, then one section per installed backend."""
    shared = list(get_shared_params(plugins).values())
    groups: dict[str, list[ParamInfo]] = {}
    for p in shared:
        head = p.path.split(".")[0] if "." in p.path else ""
        groups.setdefault(head, []).append(p)
    titles = {"": "Experiment", "prompts": "Prompts (`prompts:`)", "decoder": "Decoder (`decoder:`)",
              "measurement": "Measurement (`measurement:`)"}  # fmt: skip
    lines = [HEADER]
    for key, params in groups.items():
        lines += [f"## {titles.get(key, key)}", "", *_table(params)]
        if key == "":
            lines += _rules("core", plugins)
        lines.append("")
    for name in sorted(plugins.backends):
        entry = plugins.backends[name]
        lines += [f"## Backend `{name}` (`{name}:`)", "", entry.description or "", ""]
        lines += _table(list(get_backend_params(name, plugins).values()))
        lines += _rules(name, plugins)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
