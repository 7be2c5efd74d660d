"""The runner's hold on processes: whether one still runs, and ending a worker's whole process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Protocol

KILL_GRACE_S = 3.0


class Leader(Protocol):
    """A process that leads its own group: a `subprocess.Popen`, or a worker forked by the spare worker."""

    pid: int

    def wait(self, timeout: float | None = None) -> int: ...


def pid_alive(pid: int) -> bool:
    """True while `pid` runs: a zombie (exited, not yet reaped), which still answers signal 0, is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            # the state follows the command name in parentheses, which may itself hold spaces
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def kill_group(proc: Leader) -> None:
    """SIGTERM the process group `proc` leads, then SIGKILL whatever is left after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # the group may outlive its leader (a child ignored SIGTERM)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
