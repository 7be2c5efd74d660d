"""The architecture configs bundled with llem (config.json-style dicts), by name."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from llem.errors import UserError

RANDOM_PREFIX = "random:"


def is_random(model: str) -> bool:
    """True for `random:NAME` model ids."""
    return model.startswith(RANDOM_PREFIX)


def random_name(model: str) -> str:
    return model.removeprefix(RANDOM_PREFIX)


@cache
def list_architectures() -> dict[str, str]:
    """name -> one-line description of each bundled architecture."""
    folder = resources.files("llem.models") / "architectures"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            out[entry.name.removesuffix(".json")] = data.get("_llem_description", "")
    return out


def architecture(name: str) -> dict[str, Any]:
    """The config.json dict of bundled architecture `name` (without llem's own `_llem_*` keys)."""
    if name not in list_architectures():
        choices = ", ".join(list_architectures())
        raise UserError(f"$.model: unknown bundled architecture random:{name} (choices: {choices})")
    path = resources.files("llem.models") / "architectures" / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_llem")}
