"""The study's bookkeeping, shared by the local and the SLURM runner: counts and time left, progress events,
and adopting a finished attempt into its run's record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from llem.study.manifest import RunRecord, StudyManifest
    from llem.study.worker import Outcome


class StudyEvent(msgspec.Struct, kw_only=True):
    """Progress of a study, for a progress display: run k of n started or finished, and the time left."""

    kind: Literal["start", "finish"]
    run_id: str
    label: str
    index: int
    total: int
    status: str | None = None
    error: str | None = None
    wall_s: float | None = None
    eta_s: float | None = None


StudyProgress = Callable[[StudyEvent], None]


class Tally:
    def __init__(self, total: int, per_run_estimate: dict[str, float]) -> None:
        self.total = total
        self.done = 0
        self.n_started = 0  # runs started so far (SLURM runs start and finish in any order)
        self.consecutive_failures = 0
        self.walls: list[float] = []
        self.per_run_estimate = per_run_estimate

    def eta(self, remaining: list[str]) -> float | None:
        """Seconds left: mean wall time of this session's runs so far, else the plan's per-point estimate."""
        if self.walls:
            return sum(self.walls) / len(self.walls) * len(remaining)
        est = [self.per_run_estimate.get(p) for p in remaining]
        return sum(e for e in est if e is not None) if est else None


def remaining_of(manifest: StudyManifest) -> list[str]:
    return [r.point_id for r in manifest.runs if r.status in ("pending", "queued", "running")]


def emit_one(
    progress: StudyProgress | None,
    state: Tally,
    kind: Literal["start", "finish"],
    rec: RunRecord,
    labels: dict[str, str],
    remaining: list[str],
) -> None:
    """A progress event for one run (the SLURM runner's runs finish in any order)."""
    if kind == "start":
        state.n_started += 1
    if progress is None:
        return
    progress(
        StudyEvent(
            kind=kind,
            run_id=rec.id,
            label=labels[rec.point_id],
            index=state.n_started if kind == "start" else state.done,
            total=state.total,
            status=rec.status if kind == "finish" else None,
            error=rec.error if kind == "finish" else None,
            wall_s=rec.wall_s if kind == "finish" else None,
            eta_s=state.eta(remaining),
        )
    )


def adopt(rec: RunRecord, outcome: Outcome, study_dir: Path, attempt_dir: Path | None = None) -> None:
    """Point the run's record at a finished attempt (the manifest write that follows makes it official)."""
    rec.status = outcome.status
    rec.error = outcome.error
    rec.failure = None if outcome.status == "ok" else "error"
    rec.result_dir = relative(outcome.result_dir, study_dir)
    rec.wall_s = round(outcome.finished_at - outcome.started_at, 3)
    rec.model_reused = outcome.model_reused
    rec.node = outcome.host or rec.node
    rec.job_id = outcome.job_id or rec.job_id
    if attempt_dir is not None:
        rec.attempt_dir = relative(str(attempt_dir), study_dir)


def count(rec: RunRecord, state: Tally) -> None:
    state.done += 1
    if rec.wall_s is not None:
        state.walls.append(rec.wall_s)
    state.consecutive_failures = 0 if rec.status == "ok" else state.consecutive_failures + 1


def relative(path: str | None, study_dir: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(study_dir.resolve()))
    except ValueError:
        return path
