"""The spare worker's loop: fork one worker process per job the runner asks for; report how each ended.

A study's spare worker (spare.py) has imported llem and its backends' libraries once. Each later experiment
then runs in a fresh process forked from it: its own process group, CUDA context, model and compiled graphs,
as isolated as a worker started from scratch, without paying interpreter start-up and seconds of imports
again. No CUDA context exists in the spare worker (`llem_prepare` touches no device), so forking it is safe.

The runner writes one request per line on this process's stdin: the job file and the log file, separated by a
tab. For each, a child is forked and its pid written atomically to `<job>.pid`; when the child ends, its exit
status (as `subprocess.Popen.returncode` gives it: negative for a signal) is written to `<job>.exit`. This
process is the children's parent, so it reaps them. At end of input it waits for its children, then returns.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from llem.files import write_bytes_atomic

POLL_S = 0.02  # how often a child's end is looked for while no request comes


def pid_path(job_path: Path) -> Path:
    """Where the pid of the worker forked for `job_path` is written."""
    return job_path.with_suffix(".pid")


def exit_path(job_path: Path) -> Path:
    """Where that worker's exit status is written once it has ended."""
    return job_path.with_suffix(".exit")


def serve(requests_fd: int, run: Callable[[Path], int]) -> int:
    """Fork a worker running `run(job_path)` for each request read from `requests_fd`, until end of input."""
    children: dict[int, Path] = {}
    pending = b""
    while True:
        _reap(children, block=False)
        readable, _, _ = select.select([requests_fd], [], [], POLL_S)
        if not readable:
            continue
        chunk = os.read(requests_fd, 4096)
        if not chunk:
            break
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            job, _, log = line.decode().partition("\t")
            pid = _fork(Path(job), Path(log), run)
            children[pid] = exit_path(Path(job))
            write_bytes_atomic(pid_path(Path(job)), str(pid).encode())
    while children:
        _reap(children, block=True)
    return 0


def _fork(job_path: Path, log_path: Path, run: Callable[[Path], int]) -> int:
    for stream in (sys.stdout, sys.stderr):  # else the child would write our buffered lines again
        stream.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()  # a group of its own: the runner's timeout kills exactly this worker and its helpers
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((null, 0), (log, 1), (log, 2)):
            os.dup2(fd, target)
        os.close(log)
        os.close(null)
        code = run(job_path)
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)  # never return into the server's loop


def _reap(children: dict[int, Path], *, block: bool) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        path = children.pop(pid, None)
        if path is not None:
            write_bytes_atomic(path, str(os.waitstatus_to_exitcode(status)).encode())
        if block:
            return
