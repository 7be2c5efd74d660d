"""Run a planned study: every experiment in a worker process, with timeouts, a circuit breaker and resume.

The manifest (study.json) is rewritten atomically after every state change, and each experiment's result
folder is written atomically by the run engine, in an attempt folder of its own (llem.study.attempts), so a
study killed at any moment (SIGKILL included) loses at most the experiment in flight and never a finished one;
a resumed study picks up from the manifest and the outcome files on disk. The caller holds the study folder's
lock (llem.study.lock). With `executor: slurm` the runs go to llem.study.slurm_runner instead of local
workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import msgspec

from llem.errors import UserError
from llem.files import write_bytes_atomic
from llem.study.attempts import RUNS_DIR, adoptable, new_attempts_job, read_outcome
from llem.study.bookkeeping import StudyProgress, Tally, adopt, count, emit_one, relative, remaining_of
from llem.study.config import StudyConfig
from llem.study.estimate import estimate, previous_rows
from llem.study.manifest import RunRecord, StudyManifest, now_iso, save_manifest
from llem.study.order import Run, model_key, worker_batches
from llem.study.processes import Leader, kill_group
from llem.study.slurm_runner import run_on_slurm
from llem.study.spare import GATE_FILE, Forked, Spare, clear_gate, start_spare
from llem.study.table import find_result, read_result, write_tables
from llem.study.worker import Outcome

JOBS_DIR = "jobs"
LOGS_DIR = "logs"
SPARE_LOG = "spare-worker.log"  # the spare worker's own lines; each forked worker logs to its batch's log
POLL_S = 0.1


class StudyInterrupted(Exception):
    """The study was stopped by SIGINT/SIGTERM; the manifest says so and `--resume` continues it."""


def new_study_dir(manifest: StudyManifest, output: str | Path | None, base_output_dir: str) -> Path:
    """The folder of a new study: `output` if given (it must not hold a study yet), else a timestamped one."""
    if output is not None:
        folder = Path(output)
        if (folder / "study.json").exists():
            raise UserError(
                "already holds a study; continue it with --resume, or choose another --output",
                source=str(folder),
            )
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = Path(base_output_dir) / f"{manifest.name}-{stamp}"
        n = 2
        while folder.exists():
            folder = Path(base_output_dir) / f"{manifest.name}-{stamp}-{n}"
            n += 1
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_study(
    manifest: StudyManifest,
    study_dir: Path,
    *,
    progress: StudyProgress | None = None,
    retry_failed: bool = False,
    python: str = sys.executable,
) -> StudyManifest:
    """Run every run of `manifest` not yet done; returns the manifest as finally saved in `study_dir`.

    A run is done when it is ok, or failed (unless `retry_failed`). Raises StudyInterrupted on SIGINT/SIGTERM
    after recording the state.
    """
    study = msgspec.convert(manifest.study, StudyConfig)
    _reconcile(manifest, study_dir)
    todo = runs_to_do(manifest, retry_failed)
    if study.executor == "local":
        _refuse_live_slurm_jobs(todo)
    for r in todo:
        if not (study.executor == "slurm" and r.status in ("queued", "running")):  # those may be re-attached
            r.status, r.error, r.failure = "pending", None, None
    manifest.status = "running"
    save_manifest(study_dir, manifest)

    keys = {p.id: model_key(p.config) for p in manifest.points}
    history = previous_rows([study_dir])
    per_run = estimate(manifest, history).per_run_s
    records = {r.id: r for r in manifest.runs}
    labels = {p.id: p.label for p in manifest.points}
    runs = [Run(point_id=r.point_id, cycle=r.cycle) for r in todo]
    queue = deque(worker_batches(runs, keys, study.reuse_model))
    state = Tally(total=len(runs), per_run_estimate=per_run)

    previous = _install_signal_handlers()
    spare: Spare | None = None
    prepare = study.prepare_next
    try:
        if study.executor == "slurm":
            queue.clear()
            run_on_slurm(manifest, study, study_dir, todo, state, progress, labels)
        while queue:
            batch = queue.popleft()
            forker = spare if spare is not None and spare.alive() else None
            if forker is None and spare is not None:
                # one that ended before forking anything cannot prepare here (it died, or initialised
                # CUDA): the rest start the usual way rather than pay for a spare each time
                prepare = prepare and spare.forked > 0
                spare.discard()
                spare = None
            if spare is None and queue and prepare:  # before this batch's worker reaches a window
                spare = _start_spare(python, study_dir, manifest, queue)
            if spare is None:
                clear_gate(study_dir / JOBS_DIR)
            leftover = _run_batch(
                batch, manifest, study, study_dir, records, labels, state, progress, python, forker
            )
            if leftover:
                queue.appendleft(leftover)
            limit = study.max_consecutive_failures
            if limit is not None and state.consecutive_failures >= limit and queue:
                reason = f"not run: the study stopped after {limit} consecutive failures"
                reason += " (max_consecutive_failures)"
                for b in queue:
                    for run in b:
                        rec = records[run.id]
                        rec.status, rec.failure, rec.error = "skipped", "breaker", reason
                queue.clear()
                manifest.status = "aborted"
                manifest.notes.append(reason.replace("not run: ", ""))
        if manifest.status == "running":
            manifest.status = "complete"
    except StudyInterrupted as exc:
        manifest.status = "interrupted"
        if study.executor == "slurm" and any(r.status in ("queued", "running") for r in manifest.runs):
            raise StudyInterrupted(f"{exc}; its SLURM jobs keep running and --resume follows them") from None
        raise
    except UserError:  # a refusal (sbatch): resumable as it stands
        manifest.status = "interrupted"
        raise
    finally:
        if spare is not None:
            spare.discard()
        clear_gate(study_dir / JOBS_DIR)
        _restore_signal_handlers(previous)
        save_manifest(study_dir, manifest)
        write_tables(study_dir, manifest)
    return manifest


def _run_batch(
    batch: list[Run],
    manifest: StudyManifest,
    study: StudyConfig,
    study_dir: Path,
    records: dict[str, RunRecord],
    labels: dict[str, str],
    state: Tally,
    progress: StudyProgress | None,
    python: str,
    forker: Spare | None = None,
) -> list[Run]:
    """Run one worker process over `batch` (forked from the spare worker `forker`, if it can); returns the
    runs it did not get to (after a crash or timeout)."""
    first = batch[0].id
    job = new_attempts_job(manifest, study.reuse_model, study_dir, batch, parent_pid=os.getpid())
    job.gate = str(study_dir / JOBS_DIR / GATE_FILE)
    job_path = study_dir / JOBS_DIR / f"{first}.json"
    write_bytes_atomic(job_path, msgspec.json.encode(job))
    log_path = _log_path(study_dir, batch)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    forked = forker.fork(job_path, log_path, timeout_s=study.timeout_s) if forker is not None else None

    def start(i: int) -> float:
        rec = records[batch[i].id]
        rec.status, rec.started_at, rec.attempts = "running", now_iso(), rec.attempts + 1
        rec.worker_pid = proc.pid
        rec.executor, rec.job_id, rec.node, rec.job_state = "local", None, _host(), None
        rec.attempt_dir = relative(job.runs[i].run_dir, study_dir)
        rec.log = str(log_path.relative_to(study_dir))
        save_manifest(study_dir, manifest)
        emit_one(progress, state, "start", rec, labels, remaining_of(manifest))
        return time.monotonic()

    proc: subprocess.Popen[bytes] | Forked
    with open(log_path, "ab") as log:
        proc = forked or subprocess.Popen(
            [python, "-m", "llem.study.worker", str(job_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        i = 0
        t0 = start(0)
        try:
            while True:
                time.sleep(POLL_S)
                run = batch[i]
                outcome = read_outcome(Path(job.runs[i].run_dir))
                if outcome is not None:
                    _finish(records[run.id], outcome, study_dir, state)
                    save_manifest(study_dir, manifest)
                    emit_one(progress, state, "finish", records[run.id], labels, remaining_of(manifest))
                    i += 1
                    if i == len(batch):
                        _reap(proc)
                        return []
                    t0 = start(i)
                    continue
                code = proc.poll()
                if code is not None:
                    outcome = read_outcome(Path(job.runs[i].run_dir))  # written just before it exited?
                    if outcome is not None:
                        continue
                    _fail(
                        records[run.id],
                        "crash",
                        _crash_message(code, log_path),
                        study_dir,
                        state,
                        time.monotonic() - t0,
                        code,
                    )
                    break
                if time.monotonic() - t0 > study.timeout_s:
                    kill_group(proc)
                    _fail(
                        records[run.id],
                        "timeout",
                        f"timed out after {study.timeout_s:g} s (timeout_s); "
                        "its worker process group was killed",
                        study_dir,
                        state,
                        time.monotonic() - t0,
                        proc.returncode,
                    )
                    break
        except StudyInterrupted:
            kill_group(proc)
            rec = records[batch[i].id]
            rec.status, rec.started_at = "pending", None
            raise
    save_manifest(study_dir, manifest)
    emit_one(progress, state, "finish", records[batch[i].id], labels, remaining_of(manifest))
    for unused in job.runs[i + 1 :]:  # never started: an empty folder, not an attempt
        with contextlib.suppress(OSError):
            os.rmdir(unused.run_dir)
    return batch[i + 1 :]


def _start_spare(python: str, study_dir: Path, manifest: StudyManifest, queue: deque[list[Run]]) -> Spare:
    """The study's spare worker, preparing for the distinct configs still to run."""
    configs = {
        msgspec.json.encode(c): c for c in (manifest.point(r.point_id).config for b in queue for r in b)
    }
    log = study_dir / LOGS_DIR / SPARE_LOG
    return start_spare(python, study_dir / JOBS_DIR, log, list(configs.values()))


def _log_path(study_dir: Path, batch: list[Run]) -> Path:
    """The log of the worker that runs `batch` (named after its first run)."""
    return study_dir / LOGS_DIR / f"{batch[0].id}.log"


def runs_to_do(manifest: StudyManifest, retry_failed: bool) -> list[RunRecord]:
    """The runs a (resumed) study still has to run: not started, cut short, skipped by the breaker, or whose
    scheduler job ended without a result; failed ones too with `retry_failed`."""
    return [
        r
        for r in manifest.runs
        if r.status in ("pending", "queued", "running", "skipped")
        or (r.status == "failed" and (retry_failed or r.failure == "job"))
    ]


def _host() -> str:
    return socket.gethostname()


def _refuse_live_slurm_jobs(todo: list[RunRecord]) -> None:
    """A local resume would run again what SLURM jobs may still be running: a duplicate. Say so instead."""
    live = sorted(
        {r.job_id for r in todo if r.executor == "slurm" and r.status in ("queued", "running") and r.job_id}
    )
    if live:
        shown = ", ".join(str(j) for j in live[:5]) + (" ..." if len(live) > 5 else "")
        raise UserError(
            f"{len(live)} SLURM job(s) of this study may still be queued or running ({shown}); resume with "
            "--executor slurm (it follows them), or scancel them and resume with --executor slurm once",
            source="--executor",
        )


def _finish(rec: RunRecord, outcome: Outcome, study_dir: Path, state: Tally) -> None:
    adopt(rec, outcome, study_dir)
    rec.finished_at = now_iso()
    count(rec, state)


def _fail(
    rec: RunRecord,
    failure: Literal["crash", "timeout"],
    error: str,
    study_dir: Path,
    state: Tally,
    wall_s: float,
    code: int | None,
) -> None:
    rec.status, rec.failure, rec.error = "failed", failure, error
    rec.wall_s = round(wall_s, 3)
    rec.finished_at = now_iso()
    rec.exit_code = code
    attempt = study_dir / rec.attempt_dir if rec.attempt_dir else study_dir / RUNS_DIR / rec.id
    found = find_result(attempt)
    rec.result_dir = relative(str(found.parent), study_dir) if found else None
    count(rec, state)


def _crash_message(code: int, log_path: Path) -> str:
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        why = (
            " (not by llem: the kernel's out-of-memory killer or a kill -9 from outside; "
            "an OOM kill shows in dmesg or journalctl -k)"
            if -code == signal.SIGKILL
            else ""
        )
        head = f"worker process killed by {name}{why}"
    else:
        head = f"worker process exited with status {code} before writing a result"
    tail = _last_line(log_path)
    return f"{head}; last log line: {tail}" if tail else head


def _last_line(path: Path) -> str | None:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1].strip()[:300] if lines else None


def _reap(proc: Leader) -> None:
    """Wait for a worker that has written its last outcome, then end what is left of its process group (a
    worker skips the interpreter's teardown, so helpers such as inductor's compile workers may remain)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    kill_group(proc)


def _reconcile(manifest: StudyManifest, study_dir: Path) -> None:
    """Adopt what finished on disk but never reached the manifest (the study died between the two writes).

    Every attempt folder of an unfinished run is looked at: its first ok attempt wins, else its latest
    finished one. Nothing is deleted."""
    for rec in manifest.runs:
        if rec.status not in ("pending", "queued", "running") and not (
            rec.status == "failed" and rec.failure == "job"
        ):
            continue
        found = adoptable(study_dir, rec.id)
        if found is not None:
            attempt, outcome = found
            adopt(rec, outcome, study_dir, attempt)
            rec.finished_at = rec.finished_at or now_iso()
            continue
        result = _legacy_ok_result(study_dir, rec)
        if result is not None:
            rec.status, rec.result_dir = "ok", relative(str(result.parent), study_dir)
            rec.finished_at = rec.finished_at or now_iso()
        elif rec.status == "running" and rec.executor != "slurm":
            rec.status = "pending"


def _legacy_ok_result(study_dir: Path, rec: RunRecord) -> Path | None:
    """An ok result.json written without an outcome (the worker died between the two writes)."""
    folder = study_dir / rec.attempt_dir if rec.attempt_dir else study_dir / RUNS_DIR / rec.id
    found = find_result(folder)
    result = read_result(found) if found else None
    return found if result is not None and result.get("status") == "ok" else None


# What signal.signal takes and returns (typeshed's own alias is private).
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def _install_signal_handlers() -> dict[int, _Handler]:
    """SIGINT/SIGTERM stop the study cleanly (worker killed, manifest saved). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def _stop(signum: int, frame: object) -> None:
        raise StudyInterrupted(signal.Signals(signum).name)

    previous: dict[int, _Handler] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, _stop)
    return previous


def _restore_signal_handlers(previous: dict[int, _Handler]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def resume_dir_check(study_dir: Path) -> None:
    """A --resume folder must exist and hold a study."""
    if not (study_dir / "study.json").is_file():
        raise UserError("not a study folder (no study.json); nothing to resume", source=str(study_dir))
