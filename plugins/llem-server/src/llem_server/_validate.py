"""Checks of a server experiment made before anything starts (one line each, naming the field)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from llem.config.prompts import SyntheticPrompts

from llem_server._config import ServerConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase


def serving_problems(config: ExperimentBase, api: str, backend: str) -> list[str]:
    """What any OpenAI-server run needs from the experiment: a load section, prompts the API can send."""
    out: list[str] = []
    if config.load is None:
        out.append(
            f"load: backend {backend} measures a server under load: add a load section, e.g. "
            "load: {request_rate: 1.0} (see docs/serving.md)"
        )
    if api == "chat" and isinstance(config.prompts, SyntheticPrompts):
        out.append(
            f"{backend}.api: chat needs text prompts (prompts.source: file or dataset); synthetic prompts "
            "are token ids, which only api: completions can send"
        )
    return out


def problems(config: ExperimentBase) -> list[str]:
    sc = config.section(ServerConfig)
    out = serving_problems(config, sc.api, "server")
    for key, value in (sc.headers or {}).items():
        if value.startswith("env:") and not value[4:]:
            out.append(f"server.headers.{key}: 'env:' needs a variable name, e.g. env:OPENAI_API_KEY")
        elif value.startswith("env:") and value[4:] not in os.environ:
            out.append(f"server.headers.{key}: environment variable {value[4:]} is not set")
    return out
