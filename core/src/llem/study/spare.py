"""The study's spare worker: it imports its libraries once, outside every window, and each later experiment
runs in a fresh process forked from it.

A study's experiments each run in a fresh worker process, and each would pay interpreter start-up and the
imports of its engine (torch and transformers: ten seconds and more on an H200 host) before it could load.
With `prepare_next` the runner starts a *spare worker* as soon as the first experiment starts. It imports
llem and calls its backends' optional `llem_prepare` hook for the study's configs, then says it is ready (a
file) and serves the runner: for each later experiment it forks a worker (forkserver.py), a process of its
own (own group, CUDA context, model and compiled graphs) that starts with everything imported. The runner
names the spare worker in the study's gate file. Through every measuring stage (baseline, settle, warm-up
after its first batch, window, prefill) the current worker stops a spare worker that is still preparing
(SIGSTOP to its process group) and continues it (SIGCONT) in between; once prepared, it only waits, and forks
between experiments. So no preparation runs during a measurement, and the imports happen once per study.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from llem.files import write_bytes_atomic
from llem.run.progress import MEASURING_STAGES, ProgressEvent
from llem.study.forkserver import exit_path, pid_path
from llem.study.processes import kill_group, pid_alive

GATE_FILE = "spare.json"


class SpareJob(msgspec.Struct, kw_only=True):
    """What a spare worker starts with: its runner, the configs it prepares for, where to say it is ready."""

    parent_pid: int
    configs: list[dict[str, Any]]
    ready_path: str


class Gate(msgspec.Struct, kw_only=True):
    """The study's gate file: the spare worker (pid) and the file it writes when ready."""

    pid: int
    ready_path: str


class Ready(msgspec.Struct, kw_only=True):
    """What a spare worker writes when it is prepared."""

    pid: int
    prepare_s: float
    problem: str | None = None


@dataclass
class Forked:
    """A worker forked by the spare worker, as the runner sees it: what it needs of a `subprocess.Popen`.

    The spare worker is its parent: it reaps it and writes its exit status to `exit_file`."""

    pid: int
    exit_file: Path
    server: subprocess.Popen[bytes]
    returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = _read_int(self.exit_file)
        if self.returncode is None and self.server.poll() is not None and not pid_alive(self.pid):
            # Its parent, which reports how it ended, died first; the kernel then sent it SIGTERM
            # (PR_SET_PDEATHSIG), which is how it ended unless it had already exited.
            self.returncode = -signal.SIGTERM
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            time.sleep(0.01)
        return code


@dataclass
class Spare:
    """The started spare worker (runner side)."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    forked: int = 0  # workers forked so far

    def fork(self, job_path: Path, log_path: Path, *, timeout_s: float) -> Forked | None:
        """A worker forked for `job_path`, logging to `log_path`, once the spare worker is prepared; None if
        it is gone or not prepared within `timeout_s` (it is then ended, and the runner starts a worker the
        usual way)."""
        stdin = self.proc.stdin
        if self.proc.poll() is not None or stdin is None:
            return None
        pid_file, exit_file = pid_path(job_path), exit_path(job_path)
        for stale in (pid_file, exit_file):  # a resumed study writes the same job file again
            stale.unlink(missing_ok=True)
        self._continue()  # a worker that died while measuring left it stopped
        try:
            stdin.write(f"{job_path}\t{log_path}\n".encode())
            stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        deadline = time.monotonic() + timeout_s
        while (pid := _read_int(pid_file)) is None:
            if self.proc.poll() is not None:
                return None
            if time.monotonic() > deadline:
                kill_group(self.proc)
                return None
            time.sleep(0.01)
        self.forked += 1
        return Forked(pid=pid, exit_file=exit_file, server=self.proc)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _continue(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGCONT)

    def discard(self) -> None:
        """End the spare worker: close its stdin (it exits once its forked workers have), then make sure."""
        self._continue()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def start_spare(python: str, jobs_dir: Path, log_path: Path, configs: list[dict[str, Any]]) -> Spare:
    """Start a spare worker preparing for `configs`, and name it in the gate file."""
    jobs_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    ready_path = jobs_dir / "spare-ready.json"
    ready_path.unlink(missing_ok=True)
    spare_path = jobs_dir / "spare-job.json"
    job = SpareJob(parent_pid=os.getpid(), configs=configs, ready_path=str(ready_path))
    write_bytes_atomic(spare_path, msgspec.json.encode(job))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [python, "-m", "llem.study.worker", "--spare", str(spare_path)],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    gate = Gate(pid=proc.pid, ready_path=str(ready_path))
    write_bytes_atomic(jobs_dir / GATE_FILE, msgspec.json.encode(gate))
    return Spare(proc=proc, log_path=log_path)


def clear_gate(jobs_dir: Path) -> None:
    """No worker is being prepared: a worker has none to stop while it measures."""
    (jobs_dir / GATE_FILE).unlink(missing_ok=True)


def holds(event: ProgressEvent) -> bool | None:
    """Whether a spare must be stopped from `event` on: True through the stages that measure time or energy,
    False outside them, None for an event that changes nothing.

    The first of several warm-up batches is the exception: it compiles and captures graphs, and nothing
    reads its time (the window length is predicted from the later ones), so a spare may prepare beside it.
    A single warm-up batch is held like the rest: its time is all there is to predict from.
    """
    if event.stage == "warmup":
        if event.state == "start":
            return event.total is None or event.total < 2
        return True if event.state == "advance" else None
    if event.state != "start":
        return None
    return event.stage in MEASURING_STAGES


@dataclass
class WindowGate:
    """A worker's progress hook: a spare (named in the gate file) that is still preparing is stopped (SIGSTOP
    to its process group) while the experiment measures (`holds`), and continued (SIGCONT) in between.

    Stopping instead of waiting lets the spare go on preparing through the rest of the current experiment
    (its load, first warm-up batch, result writing, exit) without holding the measurement back. `log`
    receives one line per decision (the worker's log); `alive` and `kill` are injectable for tests."""

    gate_path: Path | None
    log: Callable[[str], None]
    alive: Callable[[int], bool] = pid_alive
    kill: Callable[[int, int], None] = os.killpg
    stopped: list[int] = field(default_factory=list)
    holding: bool = False

    def __call__(self, event: ProgressEvent) -> None:
        hold = holds(event)
        if hold is None or hold == self.holding:
            return
        self.holding = hold
        if hold:
            self._stop_spare()
        else:
            self._continue_spares()

    def _stop_spare(self) -> None:
        gate = self._gate()
        if gate is None or gate.pid == os.getpid():
            return
        if Path(gate.ready_path).exists():
            self.log(f"measuring; the spare worker {gate.pid} is prepared and idle")
        elif not self.alive(gate.pid):
            self.log(f"measuring; the spare worker {gate.pid} ended before it was prepared")
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.kill(gate.pid, signal.SIGSTOP)
                self.stopped.append(gate.pid)
            self.log(
                f"measuring; the spare worker {gate.pid} is still preparing: stopped while this experiment "
                "measures"
            )

    def _continue_spares(self) -> None:
        for pid in self.stopped:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.kill(pid, signal.SIGCONT)
        if self.stopped:
            self.log(f"not measuring; the spare worker {', '.join(map(str, self.stopped))} continues")
        self.stopped.clear()

    def _gate(self) -> Gate | None:
        if self.gate_path is None:
            return None
        try:
            return msgspec.json.decode(self.gate_path.read_bytes(), type=Gate)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    def release(self) -> None:
        """The experiment ended (also by an error): continue any spare still stopped; the next gates again."""
        self._continue_spares()
        self.holding = False
