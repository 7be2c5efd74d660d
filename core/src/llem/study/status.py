"""`llem study status DIR`: where every run of a study stands (pending, queued, running, ok, failed, skipped),
read from the manifest, the attempt folders, the lock and, for SLURM runs, the scheduler."""

from __future__ import annotations

from pathlib import Path

import msgspec

from llem.study.attempts import read_outcome
from llem.study.lock import LockHolder, is_locked, read_holder
from llem.study.manifest import load_manifest
from llem.study.slurm_jobs import local_states, slurm_states


class RunStatusRow(msgspec.Struct, kw_only=True):
    run_id: str
    label: str
    status: str
    executor: str | None = None
    job_id: str | None = None
    job_state: str | None = None
    node: str | None = None
    attempts: int = 0
    wall_s: float | None = None
    error: str | None = None


class StudyStatus(msgspec.Struct, kw_only=True):
    folder: str
    name: str
    status: str
    runner: LockHolder | None
    counts: dict[str, int]
    runs: list[RunStatusRow]
    notes: list[str] = msgspec.field(default_factory=list)


def study_status(study_dir: str | Path, *, query_scheduler: bool = True) -> StudyStatus:
    """The state of every run; live SLURM states replace the manifest's for queued and running jobs."""
    folder = Path(study_dir)
    manifest = load_manifest(folder)
    labels = {p.id: p.label for p in manifest.points}
    runner = read_holder(folder) if is_locked(folder) else None
    rows = []
    for rec in manifest.runs:
        status = rec.status
        if status in ("queued", "running") and rec.attempt_dir:
            outcome = read_outcome(folder / rec.attempt_dir)
            if outcome is not None:  # finished; the runner has not recorded it yet
                status = outcome.status
        rows.append(
            RunStatusRow(
                run_id=rec.id,
                label=labels.get(rec.point_id, rec.point_id),
                status=status,
                executor=rec.executor,
                job_id=rec.job_id,
                job_state=rec.job_state,
                node=rec.node,
                attempts=rec.attempts,
                wall_s=rec.wall_s,
                error=rec.error,
            )
        )
    notes = []
    live = [r for r in rows if r.status in ("queued", "running") and r.executor == "slurm" and r.job_id]
    if live and query_scheduler:
        local = manifest.study.get("slurm", {}).get("cluster") == "local"
        states = (local_states if local else slurm_states)(r.job_id for r in live if r.job_id)
        for r in live:
            st = states.get(r.job_id or "")
            if st is None:
                continue
            r.job_state, r.node = st.state, st.node or r.node
            if st.state == "RUNNING":
                r.status = "running"
            elif not st.active:
                r.status = "failed"
                r.error = (
                    st.describe() + " (not yet recorded: llem study run --resume records and re-queues it)"
                )
    if runner is None and any(r.status in ("running",) and r.executor == "local" for r in rows):
        notes.append("no runner holds this study: its running runs were cut short; --resume continues it")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return StudyStatus(
        folder=str(folder),
        name=manifest.name,
        status=manifest.status if runner is not None or manifest.status != "running" else "interrupted",
        runner=runner,
        counts=counts,
        runs=rows,
        notes=notes,
    )


def render_status(st: StudyStatus) -> str:
    """The status as a plain-text table."""
    head = f"study {st.name}: {st.status}"
    head += f" (runner: {st.runner.describe()})" if st.runner else " (no runner)"
    lines = [head, "  " + ", ".join(f"{n} {s}" for s, n in sorted(st.counts.items()))]
    cols = ("run", "status", "job", "node", "tries", "wall_s", "label / error")
    table = [cols]
    for r in st.runs:
        job = r.job_id or ("local" if r.executor == "local" else "")
        if r.job_state and r.job_state not in ("COMPLETED",):
            job += f" {r.job_state}"
        wall = f"{r.wall_s:.1f}" if r.wall_s is not None else ""
        text = r.label + (f": {r.error}" if r.error and r.status != "ok" else "")
        table.append((r.run_id, r.status, job, r.node or "", str(r.attempts), wall, text))
    widths = [max(len(row[i]) for row in table) for i in range(len(cols) - 1)]
    for row in table:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    lines += [f"note: {n}" for n in st.notes]
    return "\n".join(lines)
