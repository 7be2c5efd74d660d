"""llem backend for OpenAI-compatible servers: an asynchronous streaming load generator and a child-server
manager, which other backends reuse (`llem_server.serve`, `llem_server.start_server`).

Imported lazily: `llem backends list` imports the plugin module, which must not pull in aiohttp.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ChildServer", "RequestFormat", "ServerHandle", "free_port", "serve", "start_server"]


def __getattr__(name: str) -> Any:
    if name == "serve":
        from llem_server._load import serve

        return serve
    if name in ("ChildServer", "free_port", "start_server"):
        from llem_server import _process

        return getattr(_process, name)
    if name in ("RequestFormat", "ServerHandle"):
        from llem_server import _handle

        return getattr(_handle, name)
    raise AttributeError(name)
