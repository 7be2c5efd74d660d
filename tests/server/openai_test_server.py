"""A small OpenAI-compatible streaming server written for the tests (a real HTTP server on 127.0.0.1).

It speaks POST /v1/completions and /v1/chat/completions with `stream: true` (SSE chunks, one token each,
token_ids and a final usage chunk) and GET /v1/models, /health. Its faults are deterministic, chosen by the
request's sequence number, so each error path of the client is exercised on purpose:

- fail_every=k: every k-th request answers HTTP 500;
- drop_every=k: every k-th request streams two tokens, then the connection is closed without a finish;
- stall_every=k: every k-th request streams one token, then stalls (until the client's timeout gives up).

Runs in a thread of the test process (`OpenAITestServer`) or as a child process
(`python openai_test_server.py --port P [--touch FILE]`, what `server.start_command` starts in the
tests; FILE is created when the first completion request arrives).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
from pathlib import Path

from aiohttp import web

MODEL = "test-model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Behaviour:
    def __init__(
        self,
        *,
        fail_every: int = 0,
        drop_every: int = 0,
        stall_every: int = 0,
        token_gap_s: float = 0.0,
        touch: str | None = None,
    ):
        self.fail_every, self.drop_every, self.stall_every = fail_every, drop_every, stall_every
        self.touch = touch
        self.token_gap_s = token_gap_s
        self.count = 0
        self.bodies: list[dict] = []

    def kind(self) -> str:
        self.count += 1
        k = self.count
        for name, every in (
            ("fail", self.fail_every),
            ("drop", self.drop_every),
            ("stall", self.stall_every),
        ):
            if every and k % every == 0:
                return name
        return "ok"


def make_app(behaviour: Behaviour) -> web.Application:
    async def models(_request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def complete(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        behaviour.bodies.append(body)
        if behaviour.touch and len(behaviour.bodies) == 1:
            Path(behaviour.touch).write_text("1")
        chat = request.path.endswith("/chat/completions")
        kind = behaviour.kind()
        if kind == "fail":
            return web.json_response({"error": {"message": "injected failure"}}, status=500)
        n = int(body.get("min_tokens") or body.get("max_tokens") or 16)
        prompt = body.get("prompt")
        prompt_tokens = len(prompt) if isinstance(prompt, list) else 7
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(payload: dict | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            await resp.write(f"data: {data}\n\n".encode())

        if chat:
            await send({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        for i in range(n):
            if kind == "drop" and i == 2:
                request.transport.close()  # a dropped stream: no finish, no [DONE]
                return resp
            if kind == "stall" and i == 1:
                await asyncio.Event().wait()  # never sends again; cancelled when the client goes away
            last = i == n - 1
            choice = (
                {"index": 0, "delta": {"content": ""}, "finish_reason": "length" if last else None}
                if chat
                else {
                    "index": 0,
                    "text": "",
                    "token_ids": [100 + i],
                    "finish_reason": "length" if last else None,
                }
            )
            await send({"choices": [choice]})
            if behaviour.token_gap_s:
                await asyncio.sleep(behaviour.token_gap_s)
        await send({"choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n}})
        await send("[DONE]")
        return resp

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_post("/v1/completions", complete)
    app.router.add_post("/v1/chat/completions", complete)
    return app


class OpenAITestServer:
    """The test server in a background thread of this process: `url` once started; `stop()` ends it."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(
            make_app(self.behaviour), shutdown_timeout=1.0, handler_cancellation=True
        )
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._started.set()
        self._loop.run_forever()

    def __enter__(self) -> OpenAITestServer:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--touch", help="create this file when the first completion request arrives")
    args = parser.parse_args()
    web.run_app(
        make_app(Behaviour(touch=args.touch)),
        host="127.0.0.1",
        port=args.port,
        print=None,
        handler_cancellation=True,
    )
