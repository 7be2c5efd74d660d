"""Load and unload of the server backend: start the server (or find it running) and learn its model name."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from llem_server._config import ServerConfig
from llem_server._handle import ServerHandle, request_format
from llem_server._process import ServerNotReady, start_server

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase


_CHECK_TIMEOUT_S = 10.0


def get_json(url: str, timeout_s: float = _CHECK_TIMEOUT_S, headers: dict[str, str] | None = None) -> object:
    """GET `url` and parse its JSON (never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=timeout_s) as resp:
        return json.loads(resp.read())


def served_model(base_url: str, headers: dict[str, str]) -> str:
    """The first model id the server lists at /v1/models."""
    url = base_url.rstrip("/") + "/v1/models"
    try:
        data = get_json(url, headers=headers)
        if not isinstance(data, dict):
            raise TypeError(f"not a JSON object: {type(data).__name__}")
        return str(data["data"][0]["id"])
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise ServerNotReady(
            f"could not learn the model name from {url} ({type(exc).__name__}: {exc}); set server.model"
        ) from exc


def load(config: ExperimentBase) -> ServerHandle:
    sc = config.section(ServerConfig)
    base = sc.url.rstrip("/")
    child = None
    if sc.start_command:
        child = start_server(
            sc.start_command,
            base + sc.ready_path,
            env=sc.start_env,
            ready_timeout_s=sc.ready_timeout_s,
            stop_timeout_s=sc.stop_timeout_s,
        )
    try:
        if child is None:
            try:
                get_json(base + sc.ready_path)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise ServerNotReady(
                    f"no server answers at {base + sc.ready_path} ({exc}); start it, or set "
                    "server.start_command"
                ) from exc
        notes = []
        host = urllib.parse.urlsplit(base).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            notes.append(
                f"the server is at {host}, not on loopback: the energy measured is this host's devices; "
                "it is the server's only if the server runs on this host"
            )
        fmt0 = request_format(config, sc, model="")
        model = sc.model or served_model(base, fmt0.headers)
        fmt = request_format(config, sc, model=model)
        return ServerHandle(base_url=base, fmt=fmt, child=child, notes=notes)
    except BaseException:
        if child is not None:
            child.stop()
        raise


def unload(handle: ServerHandle) -> None:
    if handle.child is not None:
        code = handle.child.stop()
        if code not in (0, -15, None):
            handle.notes.append(f"the started server exited with status {code} when stopped")
