"""Send everything the engine prints (its logging, warnings, subprocesses' output) to a log file, while llem's
own progress display keeps the terminal.

Redirection is at the file-descriptor level (fds 1 and 2), so it also catches C extensions and the worker
processes an engine spawns during the run (vLLM's engine core), which inherit the redirected descriptors."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

LOG_FILE = "run.log"

_ERROR_LINE = re.compile(r"\b(\w*Error|\w*Exception|error)\b[:\]]")


@contextmanager
def engine_output_to(log_path: Path) -> Iterator[TextIO]:
    """Redirect fds 1 and 2 to `log_path` (appending) for the block; yields a stream to the real stderr."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    terminal = os.fdopen(os.dup(saved_err), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)
        terminal.close()


def last_error_line(log_path: Path) -> str | None:
    """The last line of the log that reads like an error (what "see root cause above" points at)."""
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if _ERROR_LINE.search(line) and "root cause above" not in line.lower():
            return " ".join(line.split())[:300]
    return None
