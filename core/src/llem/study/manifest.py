"""The study manifest (study.json): what the study is, its points, and the state of every run, written
atomically."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from llem.errors import UserError
from llem.files import write_bytes_atomic
from llem.study.expand import DuplicatePoint, Point, PrunedPoint

MANIFEST = "study.json"
SCHEMA_VERSION = 1

# queued: submitted to a scheduler (SLURM), not started yet.
RunStatus = Literal["pending", "queued", "running", "ok", "failed", "skipped"]
# job: the scheduler's job ended without a result (cancelled, preempted, node failure, time limit):
# re-queued by --resume, unlike the experiment's own failures.
FailureKind = Literal["error", "crash", "timeout", "breaker", "interrupted", "job"]


class RunRecord(msgspec.Struct, kw_only=True):
    """One (point, cycle) run and what became of it."""

    id: str
    point_id: str
    cycle: int
    status: RunStatus = "pending"
    error: str | None = None
    failure: FailureKind | None = None
    result_dir: str | None = None
    log: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    wall_s: float | None = None
    exit_code: int | None = None
    worker_pid: int | None = None
    model_reused: bool = False
    attempts: int = 0
    attempt_dir: str | None = None
    executor: Literal["local", "slurm"] | None = None
    job_id: str | None = None
    node: str | None = None
    job_state: str | None = None


class StudyManifest(msgspec.Struct, kw_only=True):
    """Everything needed to resume, tabulate and report a study."""

    schema_version: int = SCHEMA_VERSION
    llem_version: str
    name: str
    study_file: str | None
    status: Literal["planned", "running", "complete", "aborted", "interrupted"] = "planned"
    created_at: str
    updated_at: str
    study: dict[str, Any]
    base: dict[str, Any]
    device: dict[str, Any]
    varied: list[str]
    points: list[Point]
    pruned: list[PrunedPoint]
    duplicates: list[DuplicatePoint]
    runs: list[RunRecord]
    notes: list[str] = msgspec.field(default_factory=list)

    def point(self, point_id: str) -> Point:
        for p in self.points:
            if p.id == point_id:
                return p
        raise KeyError(point_id)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def save_manifest(study_dir: Path, manifest: StudyManifest) -> None:
    manifest.updated_at = now_iso()
    write_bytes_atomic(study_dir / MANIFEST, msgspec.json.format(msgspec.json.encode(manifest), indent=2))


def load_manifest(study_dir: str | Path) -> StudyManifest:
    """Read study.json of a study folder; a missing or unreadable one is a UserError naming the folder."""
    path = Path(study_dir) / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"not a study folder (no {MANIFEST})", source=str(study_dir)) from None
    try:
        return msgspec.json.decode(raw, type=StudyManifest)
    except msgspec.ValidationError as exc:
        raise UserError(
            f"{MANIFEST} does not match this llem version's schema ({exc})", source=str(study_dir)
        ) from None
    except msgspec.DecodeError as exc:
        raise UserError(f"{MANIFEST} is not valid JSON ({exc})", source=str(study_dir)) from None
