"""The `server:` section: where the server is, how to talk to it, and (optionally) how to start it."""

from __future__ import annotations

from typing import Annotated, Literal

from llem.config import Section
from msgspec import Meta

FixedLengthParam = Literal["ignore_eos", "min_tokens"]


class ServerConfig(Section):
    """An OpenAI-compatible HTTP server, measured under the experiment's `load:` (started by llem or already
    running)."""

    url: Annotated[
        str,
        Meta(
            description="Base URL of the server (the API path is appended), e.g. http://127.0.0.1:8000. With "
            "start_command, the address the started server listens on.",
            pattern=r"^https?://[^/\s]+(/\S*)?$",
        ),
    ] = "http://127.0.0.1:8000"
    model: Annotated[
        str | None,
        Meta(
            description="Model name sent in each request (None: the first model the server lists at "
            "/v1/models). The experiment's `model` only labels the result and sizes FLOP estimates."
        ),
    ] = None
    api: Annotated[
        Literal["completions", "chat"],
        Meta(
            description="completions: POST /v1/completions (prompts as token ids or text); chat: POST "
            "/v1/chat/completions (text prompts only, the server applies its chat template)."
        ),
    ] = "completions"
    start_command: Annotated[
        list[str] | None,
        Meta(
            description="Command (argument list, no shell) that starts the server; llem starts it before the "
            "run, waits until ready_path answers, and stops it afterwards (SIGTERM to its process group, "
            "then SIGKILL), also on Ctrl-C or a failure. None: measure a server that is already running.",
            examples=[
                ["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "MODEL", "--port", "8000"]
            ],
        ),
    ] = None
    start_env: Annotated[
        dict[str, str] | None,
        Meta(description="Environment variables added for start_command (e.g. VLLM_CPU_KVCACHE_SPACE)."),
    ] = None
    ready_path: Annotated[
        str,
        Meta(description="Path polled until it answers 200: the server is ready.", pattern=r"^/"),
    ] = "/v1/models"
    ready_timeout_s: Annotated[
        float,
        Meta(gt=0.0, description="How long to wait for the server to become ready before failing."),
    ] = 600.0
    stop_timeout_s: Annotated[
        float,
        Meta(gt=0.0, description="How long a started server gets to exit after SIGTERM before SIGKILL."),
    ] = 20.0
    headers: Annotated[
        dict[str, str] | None,
        Meta(
            description="Extra HTTP headers of every request. A value 'env:NAME' is read from environment "
            "variable NAME at run time, so secrets (Authorization) stay out of the recorded config."
        ),
    ] = None
    fixed_length_params: Annotated[
        list[FixedLengthParam] | None,
        Meta(
            description="Request fields sent for fixed_output_length, beside max_tokens (None: ignore_eos "
            "and min_tokens, which vLLM and SGLang accept). [] for servers that reject them: output lengths "
            "are then counted, and the result says so."
        ),
    ] = None
    return_token_ids: Annotated[
        bool | None,
        Meta(
            description="Ask for token ids in each streamed chunk (vLLM's return_token_ids), so chunks of "
            "several tokens are counted exactly (None: on for api completions when fixed_length_params is "
            "unset)."
        ),
    ] = None
