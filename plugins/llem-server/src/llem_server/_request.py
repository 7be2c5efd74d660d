"""One streamed request: send it, time every chunk, count its tokens; a failure becomes its error."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import TYPE_CHECKING

import aiohttp
from llem.plugins.types import RequestOutput

from llem_server._sse import DONE, SseParser, read_chunk

if TYPE_CHECKING:
    from llem.plugins.types import Prompt

    from llem_server._handle import RequestFormat

_BODY_EXCERPT = 200


async def stream_request(
    session: aiohttp.ClientSession,
    url: str,
    fmt: RequestFormat,
    prompt: Prompt,
    *,
    t0: float,
    timeout_s: float,
    sent: float | None = None,
) -> RequestOutput:
    """Send one streaming request to `url`; times are relative to `t0` (perf_counter), TTFT/e2e to `sent`
    (the request's arrival, stamped by the load driver; default now).

    Output tokens come from the final usage report when the server gives one, else from the chunks' token ids
    or chunk count; `itl_s` holds the observed gaps between chunks that carried tokens, `itl_tokens` how many
    each carried when some carried several.
    """
    input_tokens = len(prompt.token_ids) if prompt.token_ids is not None else 0
    sent = time.perf_counter() if sent is None else sent
    arrival = sent - t0
    arrivals: list[tuple[float, int]] = []  # (time, tokens) of each chunk that carried tokens
    usage_prompt = usage_completion = None
    finished = done = False
    try:
        async with asyncio.timeout(timeout_s):
            async with session.post(url, json=fmt.body(prompt), headers=fmt.headers) as resp:
                if resp.status != 200:
                    text = (await resp.text())[:_BODY_EXCERPT].replace("\n", " ")
                    return _failed(input_tokens, arrival, f"HTTP {resp.status}: {text}")
                parser = SseParser()
                async for raw in resp.content:
                    data = parser.feed(raw.decode("utf-8", "replace").rstrip("\r\n"))
                    if data is None:
                        continue
                    now = time.perf_counter()
                    if data.strip() == DONE:
                        done = True
                        break
                    chunk = read_chunk(json.loads(data), fmt.api)
                    if chunk.error is not None:
                        return _failed(input_tokens, arrival, f"server error in stream: {chunk.error}")
                    if chunk.tokens:
                        arrivals.append((now, chunk.tokens))
                    finished = finished or chunk.finished
                    usage_prompt = chunk.prompt_tokens if chunk.prompt_tokens is not None else usage_prompt
                    if chunk.completion_tokens is not None:
                        usage_completion = chunk.completion_tokens
    except TimeoutError:
        return _failed(input_tokens, arrival, f"timed out after {timeout_s:g} s (load.request_timeout_s)")
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
        got = sum(k for _, k in arrivals)
        return _failed(input_tokens, arrival, f"stream dropped after {got} tokens ({type(exc).__name__})")
    except aiohttp.ClientError as exc:
        return _failed(input_tokens, arrival, f"connection failed: {type(exc).__name__}: {exc}".rstrip(": "))
    except (json.JSONDecodeError, UnicodeError) as exc:
        return _failed(input_tokens, arrival, f"malformed stream chunk: {exc}")
    end = time.perf_counter()
    streamed = sum(k for _, k in arrivals)
    if not (done or finished):
        return _failed(
            input_tokens, arrival, f"stream ended early after {streamed} tokens (no finish, no [DONE])"
        )
    if not arrivals:
        return _failed(input_tokens, arrival, "stream finished without any token")
    output_tokens = usage_completion if usage_completion is not None else streamed
    counts = reconcile([k for _, k in arrivals], output_tokens)
    times = [t for t, _ in arrivals][: len(counts)]
    return RequestOutput(
        input_tokens=usage_prompt if usage_prompt is not None else input_tokens,
        output_tokens=output_tokens,
        ttft_s=times[0] - sent,
        e2e_s=end - sent,
        itl_s=[b - a for a, b in itertools.pairwise(times)],
        itl_tokens=counts[1:] if any(k > 1 for k in counts[1:]) else None,
        arrival_s=arrival,
    )


def reconcile(counts: list[int], total: int) -> list[int]:
    """Tokens per arrival made to add up to the server's usage count: tokens the chunks did not show arrived
    with the last one; chunks beyond the count (a server's empty closing chunk) carried none and are dropped.
    """
    out = list(counts)
    extra = total - sum(out)
    if extra > 0:
        out[-1] += extra
    while extra < 0 and out:
        take = min(out[-1], -extra)
        out[-1] -= take
        extra += take
        if out[-1] == 0:
            out.pop()
    return out or [max(total, 1)]


def _failed(input_tokens: int, arrival_s: float, error: str) -> RequestOutput:
    return RequestOutput(input_tokens=input_tokens, output_tokens=0, arrival_s=arrival_s, error=error)
