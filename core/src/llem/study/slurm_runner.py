"""Run a study's experiments as SLURM jobs through submitit; the study folder stays the one source of truth.

Each worker batch (one experiment, or several sharing a model with reuse_model) becomes one job of a job
array. The job runs `llem.study.worker.run_job_file` on a node and writes each experiment's outcome into the
run's attempt folder on the shared filesystem, exactly as a local worker does. This runner, on the login node,
records job ids, nodes and states in the manifest, adopts outcomes as they appear, and records a job that ends
without a result (cancelled, preempted, timed out, node failure) with the scheduler's reason as `failure:
job`: `--resume` re-queues those. Interrupting the runner leaves the jobs running; `--resume` re-attaches to
them instead of submitting them again, so no experiment runs twice."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from llem.errors import UserError
from llem.files import write_bytes_atomic
from llem.study.attempts import new_attempts_job, read_outcome
from llem.study.bookkeeping import StudyProgress, Tally, adopt, count, emit_one, remaining_of
from llem.study.manifest import RunRecord, StudyManifest, now_iso, save_manifest
from llem.study.order import Run, model_key, worker_batches
from llem.study.resources import JobResources, job_resources
from llem.study.slurm_jobs import JobState, cancel, local_states, slurm_states
from llem.study.worker import run_job_file

if TYPE_CHECKING:
    from llem.study.config import StudyConfig

JOBS_DIR = "jobs"


class _Tracked:
    """A submitted job and the runs it executes, in order."""

    def __init__(self, job_id: str, runs: list[RunRecord]) -> None:
        self.job_id = job_id
        self.runs = runs

    def unfinished(self) -> list[RunRecord]:
        return [r for r in self.runs if r.status in ("queued", "running")]


def run_on_slurm(
    manifest: StudyManifest,
    study: StudyConfig,
    study_dir: Path,
    todo: list[RunRecord],
    state: Tally,
    progress: StudyProgress | None,
    labels: dict[str, str],
) -> None:
    """Submit what `todo` needs, follow every job to its end, and record each run; mutates `manifest`."""
    slurm = study.slurm
    query = local_states if slurm.cluster == "local" else slurm_states
    attached = _reattach(todo, query)
    followed = {id(rec) for job in attached for rec in job.runs}
    fresh = [r for r in todo if id(r) not in followed]
    timed_out = {r.id for r in fresh if r.job_state == "TIMEOUT"}
    for rec in fresh:
        rec.status, rec.error, rec.failure, rec.job_id, rec.node, rec.job_state = (
            "pending", None, None, None, None, None,
        )  # fmt: skip
    with _signals_held():  # a Ctrl-C between sbatch and the manifest write would forget submitted jobs
        tracked = attached + _submit(manifest, study, study_dir, fresh, state, timed_out)
        save_manifest(study_dir, manifest)

    while True:
        changed = False
        for job in tracked:
            for rec in job.unfinished():
                outcome = read_outcome(study_dir / rec.attempt_dir) if rec.attempt_dir else None
                if outcome is not None:
                    adopt(rec, outcome, study_dir)
                    rec.job_state = "COMPLETED" if outcome.status == "ok" else rec.job_state
                    rec.finished_at = now_iso()
                    count(rec, state)
                    emit_one(progress, state, "finish", rec, labels, remaining_of(manifest))
                    changed = True
        live = [j for j in tracked if j.unfinished()]
        if not live:
            break
        states = query(j.job_id for j in live)
        for job in live:
            st = states.get(job.job_id) or JobState(job_id=job.job_id, state="UNKNOWN")
            if st.active:
                changed |= _mark_running(job, st, state, progress, labels, manifest)
                continue
            # ended: one more look for outcomes written just before the end, then the rest ended without one
            late = [r for r in job.unfinished() if r.attempt_dir and read_outcome(study_dir / r.attempt_dir)]
            if late:
                continue
            for rec in job.unfinished():
                rec.status, rec.failure, rec.error = "failed", "job", st.describe()
                rec.job_state, rec.node = st.state, st.node or rec.node
                rec.finished_at = now_iso()
                count(rec, state)
                emit_one(progress, state, "finish", rec, labels, remaining_of(manifest))
            changed = True
        limit = study.max_consecutive_failures
        if limit is not None and state.consecutive_failures >= limit:
            _trip_breaker(manifest, tracked, limit)
            save_manifest(study_dir, manifest)
            break
        if changed:
            save_manifest(study_dir, manifest)
        time.sleep(slurm.poll_s)


def _mark_running(
    job: _Tracked,
    st: JobState,
    state: Tally,
    progress: StudyProgress | None,
    labels: dict[str, str],
    manifest: StudyManifest,
) -> bool:
    changed = False
    rec = job.unfinished()[0]  # a job runs its experiments in order
    if st.state == "RUNNING" and rec.status == "queued":
        rec.status, rec.started_at, rec.node = "running", now_iso(), st.node
        emit_one(progress, state, "start", rec, labels, remaining_of(manifest))
        changed = True
    if rec.job_state != st.state:
        rec.job_state = st.state
        changed = True
    return changed


def _trip_breaker(manifest: StudyManifest, tracked: list[_Tracked], limit: int) -> None:
    reason = f"not run: the study stopped after {limit} consecutive failures (max_consecutive_failures)"
    cancel(j.job_id for j in tracked if j.unfinished())
    for job in tracked:
        for rec in job.unfinished():
            rec.status, rec.failure, rec.error = "skipped", "breaker", reason
    manifest.status = "aborted"
    manifest.notes.append(reason.replace("not run: ", "") + "; its remaining SLURM jobs were cancelled")


def _reattach(todo: list[RunRecord], query: Any) -> list[_Tracked]:
    """Jobs an earlier runner submitted that are still queued or running: follow them, do not resubmit."""
    candidates: dict[str, list[RunRecord]] = {}
    for rec in todo:
        if rec.executor == "slurm" and rec.status in ("queued", "running") and rec.job_id:
            candidates.setdefault(rec.job_id, []).append(rec)
    if not candidates:
        return []
    states = query(candidates)
    return [
        _Tracked(job_id, runs)
        for job_id, runs in candidates.items()
        if job_id in states and states[job_id].active
    ]


def _submit(
    manifest: StudyManifest,
    study: StudyConfig,
    study_dir: Path,
    fresh: list[RunRecord],
    state: Tally,
    timed_out: set[str],
) -> list[_Tracked]:
    """One job per worker batch, grouped into one job array per distinct set of resources. A job re-queued
    after its last one hit the time limit gets twice that limit (the estimate was too short)."""
    if not fresh:
        return []
    keys = {p.id: model_key(p.config) for p in manifest.points}
    runs = [Run(point_id=r.point_id, cycle=r.cycle) for r in fresh]
    records = {r.id: r for r in fresh}
    groups: dict[JobResources, list[list[Run]]] = {}
    for batch in worker_batches(runs, keys, study.reuse_model):
        res = job_resources(
            [manifest.point(r.point_id).config for r in batch],
            [state.per_run_estimate.get(r.point_id, 0.0) for r in batch],
            study.timeout_s,
            study.slurm,
        )
        if any(r.id in timed_out for r in batch):
            res = msgspec.structs.replace(res, time_min=res.time_min * 2)
        groups.setdefault(res, []).append(batch)
    tracked: list[_Tracked] = []
    for res, batches in groups.items():
        executor = _executor(manifest, study, study_dir, res)
        paths = [_job_file(manifest, study, study_dir, batch, records) for batch in batches]
        try:
            with _quiet_stderr(), executor.batch():
                jobs = [executor.submit(run_job_file, str(p)) for p in paths]
        except Exception as exc:  # sbatch refused (bad partition, account, ...): nothing was submitted
            for batch in batches:
                for r in batch:
                    rec = records[r.id]
                    with contextlib.suppress(OSError):  # an attempt that never started is not an attempt
                        os.rmdir(study_dir / str(rec.attempt_dir))
                    rec.status, rec.attempt_dir = "pending", None
            raise UserError(f"SLURM refused the jobs: {_sbatch_error(exc)}") from None
        for job, batch in zip(jobs, batches, strict=True):
            recs = [records[r.id] for r in batch]
            for rec in recs:
                rec.status, rec.executor, rec.job_id = "queued", "slurm", str(job.job_id)
                rec.job_state = "PENDING"
                rec.attempts += 1
                rec.started_at = rec.finished_at = rec.wall_s = None
                rec.log = _log_path(study_dir, study, str(job.job_id))
            tracked.append(_Tracked(str(job.job_id), recs))
    return tracked


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends (they are delivered then)."""
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Keep sbatch's stderr off the terminal (submitit does not capture it); the one-line error says it."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _sbatch_error(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if "error" in ln.lower()]
    text = " ".join(dict.fromkeys(lines)) or " ".join(str(exc).split())
    return text[:400]


def _job_file(
    manifest: StudyManifest,
    study: StudyConfig,
    study_dir: Path,
    batch: list[Run],
    records: dict[str, RunRecord],
) -> Path:
    job = new_attempts_job(manifest, study.reuse_model, study_dir, batch, parent_pid=0)
    for r, jr in zip(batch, job.runs, strict=True):
        records[r.id].attempt_dir = str(Path(jr.run_dir).relative_to(study_dir.resolve()))
    attempt = Path(job.runs[0].run_dir).name
    path = (study_dir / JOBS_DIR / f"{batch[0].id}-{attempt}.json").resolve()
    write_bytes_atomic(path, msgspec.json.encode(job))
    return path


def _log_path(study_dir: Path, study: StudyConfig, job_id: str) -> str:
    # SLURM jobs send stderr to the .out file; submitit's local jobs keep it apart (the worker writes there)
    suffix = "err" if study.slurm.cluster == "local" else "out"
    return f"{study.slurm.job_folder}/{job_id}_0_log.{suffix}"


def _executor(manifest: StudyManifest, study: StudyConfig, study_dir: Path, res: JobResources) -> Any:
    """A submitit executor for jobs of these resources (submitit imported here: only SLURM studies use it)."""
    try:
        # deferred: optional and heavy; only SLURM studies use it
        import submitit
    except ImportError:
        raise UserError(
            "executor: slurm needs submitit: pip install 'llem-core[slurm]'", source="executor"
        ) from None
    slurm = study.slurm
    folder = (study_dir / slurm.job_folder).resolve()
    if slurm.cluster == "local":
        local = submitit.LocalExecutor(folder=folder)
        local.update_parameters(timeout_min=res.time_min, gpus_per_node=res.gpus, setup=list(slurm.setup))
        return local
    try:
        ex = submitit.SlurmExecutor(folder=folder, python=slurm.python)
    except RuntimeError as exc:
        raise UserError(
            f"executor: slurm needs the SLURM commands on this machine's PATH ({exc})", source="executor"
        ) from None
    params: dict[str, Any] = {
        "job_name": f"llem-{manifest.name}",
        "time": res.time_min,
        "cpus_per_task": res.cpus,
        "array_parallelism": slurm.max_parallel_jobs,
        "stderr_to_stdout": True,
    }
    if res.gpus:
        params["gpus_per_node"] = res.gpus
    if res.mem_gb is not None:
        params["mem"] = f"{res.mem_gb:g}GB"
    for name in ("partition", "account", "qos", "constraint"):
        value = getattr(slurm, name)
        if value is not None:
            params[name] = value
    if slurm.setup:
        params["setup"] = list(slurm.setup)
    if slurm.sbatch:
        params["additional_parameters"] = dict(slurm.sbatch)
    ex.update_parameters(**params)
    return ex
