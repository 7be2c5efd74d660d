"""The study worker: `python -m llem.study.worker JOB.json` runs one experiment (or, with model reuse,
several).

It runs in its own process group, started by the study runner, so that a crash, an out-of-memory kill or a
hang takes down only this process; the runner kills the whole group on timeout. Each experiment's outcome is
written atomically to `<run_dir>/outcome.json` as soon as it finishes, which is how the runner (and a resumed
study) learns what completed. If the runner dies (even by SIGKILL), the kernel sends this process SIGTERM
(PR_SET_PDEATHSIG), and it kills its own group: a killed study leaves no orphan holding the GPU."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

import msgspec

from llem.config.resolve import load_experiment
from llem.errors import UserError, one_line
from llem.files import write_bytes_atomic
from llem.plugins.manager import LlemPlugins, get_plugin_manager
from llem.results.write import import_parquet, write_experiment
from llem.run import run_experiment
from llem.run.assemble import refused_result
from llem.study.forkserver import serve
from llem.study.reuse import ModelCache, reusing_plugin_manager
from llem.study.spare import Ready, SpareJob, WindowGate
from llem.study.table import find_result

OUTCOME = "outcome.json"
NVML_CUDA_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


class JobRun(msgspec.Struct, kw_only=True):
    run_id: str
    run_dir: str
    config: dict[str, Any]


class WorkerJob(msgspec.Struct, kw_only=True):
    """What one worker process runs, in order."""

    parent_pid: int
    reuse_model: bool = False
    runs: list[JobRun]
    gate: str | None = None  # the study's gate file: a spare worker to stop while it prepares (spare.py)


class Outcome(msgspec.Struct, kw_only=True):
    """What became of one experiment, as the worker saw it."""

    run_id: str
    status: Literal["ok", "failed"]
    error: str | None = None
    result_dir: str | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    model_reused: bool = False
    host: str | None = None
    job_id: str | None = None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--spare":
        return run_spare(args[1])
    if len(args) != 1:
        print("usage: python -m llem.study.worker JOB.json | --spare SPARE.json", file=sys.stderr)
        return 2
    job = msgspec.json.decode(Path(args[0]).read_bytes(), type=WorkerJob)
    _die_with_parent(job.parent_pid)
    return run_job(job)


def run_spare(spare_path: str) -> int:
    """The study's spare worker (spare.py): prepare for the study's configs once, say so, then fork a worker
    for each job the runner asks for (forkserver.py) until it closes our stdin."""
    spare = msgspec.json.decode(Path(spare_path).read_bytes(), type=SpareJob)
    _die_with_parent(spare.parent_pid)
    # torch.cuda.is_available() (validation asks it) initialises the CUDA driver unless it asks NVML instead,
    # and a process forked after that cannot use CUDA; the forked workers get the setting the study had back
    nvml_check = os.environ.get(NVML_CUDA_CHECK)
    os.environ[NVML_CUDA_CHECK] = "1"
    t0 = time.perf_counter()
    plugins = get_plugin_manager()
    problems = [p for p in (_prepare(c, plugins) for c in spare.configs) if p is not None]
    import_parquet()  # what writing each result imports: once here, not in every forked worker
    problem = "; ".join(dict.fromkeys(problems)) or None
    ready = Ready(pid=os.getpid(), prepare_s=time.perf_counter() - t0, problem=problem)
    write_bytes_atomic(Path(spare.ready_path), msgspec.json.encode(ready))
    how = f"prepared in {ready.prepare_s:.2f} s" + (f" (preparation failed: {problem})" if problem else "")
    _log(how)
    if _cuda_initialised():
        _log("CUDA was initialised while preparing: no worker can be forked from here; workers start afresh")
        return 0
    server = os.getpid()

    def run(job_path: Path) -> int:
        _die_with_parent(server)
        if nvml_check is None:
            os.environ.pop(NVML_CUDA_CHECK, None)
        else:
            os.environ[NVML_CUDA_CHECK] = nvml_check
        _log(f"forked from the spare worker {server}, {how}")
        return run_job(msgspec.json.decode(job_path.read_bytes(), type=WorkerJob))

    return serve(sys.stdin.fileno(), run)


def _cuda_initialised() -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.cuda.is_initialized())


def _prepare(config: dict[str, Any], plugins: LlemPlugins) -> str | None:
    """Import what running `config` needs, through its backend's `llem_prepare`; the problem in one line, if
    any (the job then runs as an unprepared worker would)."""
    try:
        resolved = load_experiment(config, plugins=plugins)
        plugins.backend(resolved.backend).prepare(resolved)
    except Exception as exc:
        return one_line(exc, max_len=300)
    return None


def _log(line: str) -> None:
    print(f"llem-study-worker: {line}", file=sys.stderr, flush=True)


def run_job_file(job_path: str) -> int:
    """What a scheduler job runs (submitit pickles a reference to this function): the job file's experiments.

    The job itself is the isolation unit on a cluster node, so there is no parent to watch."""
    job = msgspec.json.decode(Path(job_path).read_bytes(), type=WorkerJob)
    return run_job(job)


def run_job(job: WorkerJob) -> int:
    """Run every experiment of the job; returns 0 when all ran (whatever their status), 1 on a worker bug."""
    gate = WindowGate(Path(job.gate) if job.gate else None, log=_log)
    cache = ModelCache()
    plugins = reusing_plugin_manager(cache) if job.reuse_model else get_plugin_manager()
    try:
        for run in job.runs:
            run_dir = Path(run.run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            if _finished_ok(run_dir):  # a requeued scheduler job: what is done stays done, never run twice
                _log(f"{run.run_id} already ok, skipped")
                continue
            started = time.time()
            _log(f"{run.run_id} starting (pid {os.getpid()})")
            try:
                outcome = _run_one(run, run_dir, plugins, cache, gate)
            finally:
                gate.release()
            outcome.started_at, outcome.finished_at = started, time.time()
            outcome.host, outcome.job_id = socket.gethostname(), scheduler_job_id()
            if outcome.status != "ok" and job.reuse_model:
                cache.drop()
            write_bytes_atomic(run_dir / OUTCOME, msgspec.json.encode(outcome))
            _log(f"{run.run_id} {outcome.status}")
    finally:
        cache.drop()
    return 0


def _run_one(
    run: JobRun, run_dir: Path, plugins: LlemPlugins, cache: ModelCache, gate: WindowGate
) -> Outcome:
    cache.last_load_reused = False
    config = None
    try:
        config = load_experiment(run.config, plugins=plugins)
        started_at = datetime.now(UTC)
        result = run_experiment(config, plugins=plugins, output_dir=run_dir, progress=gate)
    except UserError as exc:
        if config is not None:  # refused before loading (e.g. its prompt file vanished): still a result
            _write_refused(config, exc, started_at, run_dir)
        return Outcome(
            run_id=run.run_id,
            status="failed",
            error=one_line(exc, max_len=500),
            result_dir=_result_dir(find_result(run_dir), run_dir),
        )
    except Exception as exc:
        traceback.print_exc()
        return Outcome(
            run_id=run.run_id,
            status="failed",
            error=one_line(exc, max_len=500),
            result_dir=_result_dir(find_result(run_dir), run_dir),
        )
    status = getattr(result, "status", "ok")
    error = getattr(result, "error", None)
    return Outcome(
        run_id=run.run_id,
        status="ok" if status == "ok" else "failed",
        error=error,
        result_dir=_result_dir(find_result(run_dir), run_dir),
        model_reused=cache.last_load_reused,
    )


def _write_refused(config: Any, exc: Exception, started_at: Any, run_dir: Path) -> None:
    write_experiment(run_dir, refused_result(config, str(exc), started_at), timeseries=None)


def scheduler_job_id() -> str | None:
    """The SLURM job running this process (`123` or, in a job array, `123_4`), if any."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def _finished_ok(run_dir: Path) -> bool:
    try:
        outcome = msgspec.json.decode((run_dir / OUTCOME).read_bytes(), type=Outcome)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return False
    return outcome.status == "ok"


def _result_dir(result_json: Path | None, run_dir: Path) -> str | None:
    return str(result_json.parent) if result_json is not None else None


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel for SIGTERM when the runner dies; on SIGTERM, kill our whole process group."""

    def _terminate(signum: int, frame: Any) -> None:
        try:
            if os.getpgrp() == os.getpid():  # only when we lead our own group (the runner starts us so)
                os.killpg(os.getpgrp(), signal.SIGKILL)
        finally:
            os._exit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the runner died before prctl took effect
        _terminate(signal.SIGTERM, None)


def exit_now(code: int) -> NoReturn:
    """End the process once its work is on disk, skipping the interpreter's teardown.

    Every outcome and result is written atomically before this runs. Tearing down an interpreter that holds
    torch and a model takes time (1.5 s on a 2-core CPU with a tiny model), and the runner hands the next
    experiment over only when this process has gone: that time is pure study overhead. The output streams
    are flushed first, so no log line is lost.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
