"""A server started by llem: its own process group, a bounded readiness wait, and a stop that always happens.

The child runs in a new session (process group), so SIGTERM and then SIGKILL reach every process it spawned
(vLLM's engine workers too). On Linux it also gets SIGTERM if llem itself dies (PR_SET_PDEATHSIG), and an
atexit hook stops it if the interpreter exits without the backend's unload: it is never left running.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_LOG_TAIL_LINES = 12
_POLL_S = 0.5


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server llem starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerNotReady(RuntimeError):
    """The server exited or did not answer in time; the message says which, with its last output lines."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ChildServer:
    """A started server process (group). `stop()` is idempotent and safe to call from any path."""

    def __init__(
        self, command: Sequence[str], env: Mapping[str, str] | None = None, *, stop_timeout_s: float = 20.0
    ) -> None:
        self.command = list(command)
        self.stop_timeout_s = stop_timeout_s
        self.log_path = Path(tempfile.mkstemp(prefix="llem-server-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        atexit.register(self.stop)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The server's last output lines, joined with ' | ' for a one-line error."""
        if self._log.closed:
            return getattr(self, "last_output", "")
        try:
            with self.log_path.open("rb") as f:
                tail = collections.deque(f, maxlen=lines)
        except OSError:
            return ""
        return " | ".join(line.decode("utf-8", "replace").strip() for line in tail if line.strip())

    def wait_ready(self, url: str, timeout_s: float, *, clock: Callable[[], float] = time.monotonic) -> float:
        """Poll `url` until it answers 200; returns seconds waited. ServerNotReady on exit or timeout."""
        start = clock()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ServerNotReady(
                    f"the server exited with status {code} before it was ready: "
                    f"{self.log_tail() or 'no output'}"
                )
            try:
                with opener.open(url, timeout=2.0) as resp:
                    if resp.status == 200:
                        return clock() - start
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if clock() - start >= timeout_s:
                raise ServerNotReady(
                    f"the server did not answer {url} within {timeout_s:g} s (server.ready_timeout_s); "
                    f"last output: {self.log_tail() or 'none'}"
                )
            time.sleep(_POLL_S)

    def stop(self, timeout_s: float | None = None) -> int | None:
        """SIGTERM the process group, SIGKILL it after `timeout_s` (default stop_timeout_s); returns the exit
        status (idempotent)."""
        with self._lock:
            if self.proc.returncode is None:
                self._signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout_s if timeout_s is not None else self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self.proc.wait()
            # workers of the group may outlive their leader: the group gets a final SIGKILL either way
            self._signal(signal.SIGKILL)
            if not self._log.closed:
                self.last_output = self.log_tail()
                self._log.close()
                self.log_path.unlink(missing_ok=True)
            atexit.unregister(self.stop)
            return self.proc.returncode

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


def start_server(
    command: Sequence[str],
    ready_url: str,
    *,
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 600.0,
    stop_timeout_s: float = 20.0,
) -> ChildServer:
    """Start `command` and wait until `ready_url` answers 200; on any failure (Ctrl-C too) stop it first."""
    try:
        child = ChildServer(command, env, stop_timeout_s=stop_timeout_s)
    except OSError as exc:
        raise ServerNotReady(f"cannot start {command[0]!r}: {exc}") from exc
    try:
        child.wait_ready(ready_url, ready_timeout_s)
    except BaseException:
        child.stop()
        raise
    return child
