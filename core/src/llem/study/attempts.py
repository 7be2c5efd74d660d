"""Attempt folders: every try of a run gets its own folder, so no attempt is ever emptied or overwritten.

`runs/<run>/attempt-1/`, `attempt-2/`, ... are created with an exclusive mkdir (two processes can never get
the same one). The worker writes `outcome.json` there atomically when the experiment ends; the runner then
adopts that attempt by recording it in the manifest (itself written atomically). Studies made before attempt
folders kept their one attempt in `runs/<run>/` itself: it is read as attempt 0."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from llem.study.worker import OUTCOME, JobRun, Outcome, WorkerJob

if TYPE_CHECKING:
    from llem.study.manifest import StudyManifest
    from llem.study.order import Run

RUNS_DIR = "runs"
PREFIX = "attempt-"


def run_folder(study_dir: Path, run_id: str) -> Path:
    return study_dir / RUNS_DIR / run_id


def attempt_number(folder: Path) -> int | None:
    name = folder.name
    if name.startswith(PREFIX) and name[len(PREFIX) :].isdigit():
        return int(name[len(PREFIX) :])
    return None


def attempt_dirs(study_dir: Path, run_id: str) -> list[Path]:
    """The run's attempt folders, oldest first (a legacy single-attempt run folder first of all)."""
    base = run_folder(study_dir, run_id)
    if not base.is_dir():
        return []
    found = sorted((n, p) for p in base.iterdir() if p.is_dir() and (n := attempt_number(p)) is not None)
    legacy = [base] if (base / OUTCOME).is_file() else []
    return legacy + [p for _, p in found]


def new_attempt_dir(study_dir: Path, run_id: str) -> Path:
    """A new, empty attempt folder for the run, numbered after every existing one."""
    base = run_folder(study_dir, run_id).resolve()
    base.mkdir(parents=True, exist_ok=True)
    existing = [n for p in base.iterdir() if (n := attempt_number(p)) is not None]
    n = max(existing, default=0) + 1
    while True:
        folder = base / f"{PREFIX}{n}"
        try:
            folder.mkdir()
        except FileExistsError:
            n += 1
            continue
        return folder


def read_outcome(folder: Path) -> Outcome | None:
    """The outcome the worker wrote in `folder`, or None (not finished, or killed before writing it)."""
    try:
        return msgspec.json.decode((folder / OUTCOME).read_bytes(), type=Outcome)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def adoptable(study_dir: Path, run_id: str) -> tuple[Path, Outcome] | None:
    """The attempt a run's record should point at: its first ok attempt, else its latest finished one."""
    finished = [(p, o) for p in attempt_dirs(study_dir, run_id) if (o := read_outcome(p)) is not None]
    ok = [(p, o) for p, o in finished if o.status == "ok"]
    if ok:
        return ok[0]
    return finished[-1] if finished else None


def new_attempts_job(
    manifest: StudyManifest, reuse_model: bool, study_dir: Path, batch: Sequence[Run], *, parent_pid: int
) -> WorkerJob:
    """The worker job for `batch`: each run gets a new attempt folder (local and SLURM runners alike)."""
    return WorkerJob(
        parent_pid=parent_pid,
        reuse_model=reuse_model,
        runs=[
            JobRun(
                run_id=r.id,
                run_dir=str(new_attempt_dir(study_dir, r.id)),
                config=manifest.point(r.point_id).config,
            )
            for r in batch
        ],
    )
