"""Server-sent events: lines in, `data` payloads out, and the tokens each OpenAI stream chunk carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DONE = "[DONE]"


class SseParser:
    """Feeds on lines (without line endings); `feed` returns an event's data when a blank line ends it.

    Follows the WHATWG event-stream rules that OpenAI-style servers use: `data:` lines of one event are joined
    with newlines, comment lines (`:`) and other fields are ignored.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        if line == "":
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def flush(self) -> str | None:
        """The data of an event left unterminated at the end of the stream (None if none)."""
        return self.feed("")


@dataclass(frozen=True)
class Chunk:
    """What one OpenAI stream chunk says: tokens it carries, whether it finished the answer, usage if any."""

    tokens: int
    finished: bool
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None


def read_chunk(payload: dict[str, Any], api: str) -> Chunk:
    """Tokens in one parsed chunk, never from its text (random-weight models often stream empty text).

    A chunk with token ids carries that many tokens; otherwise a chunk with a choice carries one token, except
    the chat API's opening chunk that only announces the assistant role. A usage-only chunk carries none.
    """
    if "error" in payload and not payload.get("choices"):
        err = payload["error"]
        return Chunk(
            tokens=0, finished=True, error=str(err.get("message", err) if isinstance(err, dict) else err)
        )
    usage = payload.get("usage") or {}
    prompt_tokens = usage.get("prompt_tokens")
    completion_tokens = usage.get("completion_tokens")
    choices = payload.get("choices") or []
    if not choices:
        return Chunk(0, False, prompt_tokens, completion_tokens)
    choice = choices[0]
    finished = choice.get("finish_reason") is not None
    ids = choice.get("token_ids")
    if ids is not None:
        tokens = len(ids)
    elif api == "chat":
        delta = choice.get("delta") or {}
        role_only = "role" in delta and not delta.get("content")
        tokens = 0 if role_only or (finished and not delta) else 1
    else:
        tokens = 0 if finished and choice.get("text") is None else 1
    return Chunk(tokens, finished, prompt_tokens, completion_tokens)
