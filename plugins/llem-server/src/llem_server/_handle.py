"""What a loaded server backend holds, and the request format derived from the config (pure functions)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.types import Prompt

    from llem_server._config import ServerConfig
    from llem_server._process import ChildServer

API_PATHS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}
DEFAULT_FIXED_LENGTH_PARAMS = ("ignore_eos", "min_tokens")


@dataclass(frozen=True)
class RequestFormat:
    """How requests are written: API, model name, the fields every request carries, headers."""

    api: Literal["completions", "chat"]
    model: str
    common: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    fixed_output_tokens: int | None = None

    @property
    def path(self) -> str:
        return API_PATHS[self.api]

    def body(self, prompt: Prompt) -> dict[str, Any]:
        """The JSON body for one prompt (token-id prompts only on the completions API)."""
        body = {"model": self.model, **self.common}
        if self.api == "chat":
            if prompt.text is None:
                raise ValueError("the chat API needs text prompts")
            body["messages"] = [{"role": "user", "content": prompt.text}]
        else:
            body["prompt"] = prompt.token_ids if prompt.token_ids is not None else prompt.text
        return body


@dataclass
class ServerHandle:
    """A server ready to take requests: its base URL, the request format, and the child process if llem
    started it."""

    base_url: str
    fmt: RequestFormat
    child: ChildServer | None = None
    notes: list[str] = field(default_factory=list)


def request_fields(
    config: ExperimentBase,
    *,
    fixed_length_params: Sequence[str] | None,
    return_token_ids: bool | None,
    api: str,
) -> dict[str, Any]:
    """The fields every request carries: length, streaming, sampling, passthrough_kwargs merged last.

    Fixed output length is max_tokens plus the server's own fields for it (ignore_eos, min_tokens); sampling
    follows the shared decoder section (greedy is temperature 0).
    """
    n = config.max_output_tokens
    params = DEFAULT_FIXED_LENGTH_PARAMS if fixed_length_params is None else tuple(fixed_length_params)
    out: dict[str, Any] = {
        "max_tokens": n,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if config.fixed_output_length:
        if "ignore_eos" in params:
            out["ignore_eos"] = True
        if "min_tokens" in params:
            out["min_tokens"] = n
    elif config.decoder.min_new_tokens is not None and "min_tokens" in params:
        out["min_tokens"] = config.decoder.min_new_tokens
    if return_token_ids is None:
        return_token_ids = fixed_length_params is None and api == "completions"
    if return_token_ids:
        out["return_token_ids"] = True
    dec = config.decoder
    if dec.greedy:
        out["temperature"] = 0.0
    else:
        for name in ("temperature", "top_p", "top_k", "min_p", "repetition_penalty"):
            value = getattr(dec, name)
            if value is not None:
                out[name] = value
    out["seed"] = config.random_seed
    if config.passthrough_kwargs:
        out.update(config.passthrough_kwargs)
    return out


def resolve_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """Headers with 'env:NAME' values read from the environment (a missing variable is an error)."""
    out = {}
    for key, value in (headers or {}).items():
        if value.startswith("env:"):
            name = value[4:]
            if name not in os.environ:
                raise ValueError(f"server.headers.{key}: environment variable {name} is not set")
            value = os.environ[name]
        out[key] = value
    return out


def request_format(config: ExperimentBase, sc: ServerConfig, model: str) -> RequestFormat:
    """The request format of the server backend's config."""
    return RequestFormat(
        api=sc.api,
        model=model,
        common=request_fields(
            config,
            fixed_length_params=sc.fixed_length_params,
            return_token_ids=sc.return_token_ids,
            api=sc.api,
        ),
        headers=resolve_headers(sc.headers),
        fixed_output_tokens=config.max_output_tokens if config.fixed_output_length else None,
    )
