"""Whether a process still runs (for the runner's view of workers and scheduler jobs)."""

from __future__ import annotations

import os


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
