"""The next worker, started early: it imports its libraries while the current experiment loads, never while a
window is open.

A study's experiments each run in a fresh worker process, and each pays interpreter start-up and the imports
of its engine (torch and transformers: seconds) before it can load. With `prepare_next` the runner starts the
next worker (a *spare*) as soon as the current one starts. The spare imports llem and calls its backend's
optional `llem_prepare` hook, then says it is ready (a file) and waits on its stdin for a job. The runner
names the spare in the study's gate file. Through every measuring stage (baseline, settle, warm-up after its
first batch, window, prefill) the current worker stops a spare that is still preparing (SIGSTOP to its process
group) and continues it (SIGCONT) in between. So no preparation runs during a measurement, and the spare's
imports overlap the current experiment's load, its compiling first warm-up batch, result writing and exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec

from llem.files import write_bytes_atomic
from llem.run.progress import MEASURING_STAGES, ProgressEvent
from llem.study.processes import kill_group, pid_alive

GATE_FILE = "spare.json"


class SpareJob(msgspec.Struct, kw_only=True):
    """What a spare worker starts with: its runner, the config it prepares for, where to say it is ready."""

    parent_pid: int
    config: dict[str, Any]
    ready_path: str


class Gate(msgspec.Struct, kw_only=True):
    """The study's gate file: the spare being prepared now (pid) and the file it writes when ready."""

    pid: int
    ready_path: str


class Ready(msgspec.Struct, kw_only=True):
    """What a spare writes when it is prepared."""

    pid: int
    prepare_s: float
    problem: str | None = None


@dataclass
class Spare:
    """A started spare worker (runner side)."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    def hand(self, job_path: Path) -> subprocess.Popen[bytes] | None:
        """Give the spare its job; None if it is gone (the runner then starts a worker the usual way)."""
        stdin = self.proc.stdin
        if self.proc.poll() is not None or stdin is None:
            return None
        self._continue()  # a worker that died while measuring left it stopped
        try:
            stdin.write(f"{job_path}\n".encode())
            stdin.close()
        except (BrokenPipeError, OSError):
            return None
        return self.proc

    def _continue(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGCONT)

    def discard(self) -> None:
        """End an unused spare: close its stdin (it exits), then make sure of it."""
        self._continue()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)


def start_spare(python: str, jobs_dir: Path, log_path: Path, config: dict[str, Any]) -> Spare:
    """Start a spare worker preparing for `config`, and name it in the gate file."""
    jobs_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    ready_path = jobs_dir / f"{log_path.stem}.ready.json"
    ready_path.unlink(missing_ok=True)
    spare_path = jobs_dir / f"{log_path.stem}.spare.json"
    job = SpareJob(parent_pid=os.getpid(), config=config, ready_path=str(ready_path))
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
    """No spare is being prepared: a worker has none to stop while it measures."""
    (jobs_dir / GATE_FILE).unlink(missing_ok=True)


def wait_for_job(stdin: IO[str]) -> str | None:
    """In the spare: block until the runner hands a job (its path), or None when the runner closed stdin."""
    line = stdin.readline().strip()
    return line or None


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
