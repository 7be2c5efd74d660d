"""Text views of a study for the terminal: the plan (grid, pruned, duplicates, estimate) and run progress."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import msgspec

from llem.study.bookkeeping import StudyEvent
from llem.study.config import StudyConfig
from llem.study.estimate import Estimate
from llem.study.expand import config_value
from llem.study.manifest import StudyManifest
from llem.study.order import Run, model_key, worker_batches
from llem.study.resources import job_resources
from llem.text import table


def duration(seconds: float | None) -> str:
    """12 s, 3 min 05 s, 2 h 10 min."""
    if seconds is None:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def plan_text(manifest: StudyManifest, est: Estimate) -> str:
    """The plan as plain text: every point with its swept values, what was pruned and why, the duplicates."""
    study = manifest.study
    lines = [
        f"study {manifest.name}: {_count(len(manifest.points), 'experiment')} × "
        f"{_count(study['cycles'], 'cycle')} = {_count(len(manifest.runs), 'run')}, order {study['order']}, "
        f"isolation {study['isolation']}" + (", model reuse on" if study.get("reuse_model") else ""),
        "",
    ]
    varied = manifest.varied
    rows = [
        [
            p.id,
            *(_show(config_value(p.config, v)) for v in varied),
            p.config_hash[:8],
            duration(est.per_run_s.get(p.id)),
        ]
        for p in manifest.points
    ]
    if rows:
        lines.append(table(["id", *varied, "hash", "est/run"], rows))
    else:
        lines.append("no experiment can run: every combination was pruned")
    if manifest.pruned:
        lines += ["", f"pruned ({len(manifest.pruned)}): cannot run here"]
        lines += [f"  - {p.label}: {p.reason}" for p in manifest.pruned]
    if manifest.duplicates:
        lines += ["", f"duplicates ({len(manifest.duplicates)}): resolve to the same config, measured once"]
        lines += [f"  - {d.label} = {d.same_as}" for d in manifest.duplicates]
    if manifest.runs:
        lines += ["", f"estimated duration: {duration(est.total_s)} ({est.basis})"]
        timeout_s = study.get("timeout_s")
        if isinstance(timeout_s, int | float):
            lines.append(
                f"at most: {duration(timeout_s * len(manifest.runs))} (every run stopped at timeout_s)"
            )
    if study.get("executor") == "slurm" and manifest.points:
        lines += slurm_plan_lines(manifest, est)
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def slurm_plan_lines(manifest: StudyManifest, est: Estimate) -> list[str]:
    """What `executor: slurm` would submit: how many jobs, and the resources each group of them asks for."""
    study = msgspec.convert(manifest.study, StudyConfig)
    keys = {p.id: model_key(p.config) for p in manifest.points}
    runs = [Run(point_id=r.point_id, cycle=r.cycle) for r in manifest.runs]
    groups: dict[Any, int] = {}
    for batch in worker_batches(runs, keys, study.reuse_model):
        res = job_resources(
            [manifest.point(r.point_id).config for r in batch],
            [est.per_run_s.get(r.point_id, 0.0) for r in batch],
            study.timeout_s,
            study.slurm,
        )
        groups[res] = groups.get(res, 0) + 1
    where = ", ".join(
        f"{k} {v}" for k in ("partition", "account", "qos", "constraint") if (v := getattr(study.slurm, k))
    )
    lines = [
        "",
        f"executor slurm: {sum(groups.values())} jobs{' (' + where + ')' if where else ''}; they run in "
        "parallel, so the study takes less than the serial estimate above",
    ]
    for res, n in groups.items():
        mem = f"{res.mem_gb:g} GB" if res.mem_gb is not None else "default memory"
        lines.append(
            f"  {n} job(s): {res.gpus} GPU, {res.cpus} CPU, {mem}, time limit {res.time_min} min "
            f"(estimate × time_margin {study.slurm.time_margin:g}, within min_time_min and timeout_s)"
        )
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ProgressView:
    """Renders StudyEvents: a rich progress bar on a terminal, else one plain line per event (logs, CI)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._rich: Any = None
        self._task: Any = None
        if self.stream.isatty():
            # deferred: rich costs ~0.1 s at start-up; only a terminal progress display needs it
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._rich = Progress(
                TextColumn("[bold]experiment {task.completed}/{task.total}"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA {task.fields[eta]}"),
                TextColumn("{task.description}"),
                console=Console(file=self.stream),
            )

    def __enter__(self) -> ProgressView:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()

    def __call__(self, event: StudyEvent) -> None:
        eta = duration(event.eta_s)
        if self._rich is not None:
            if self._task is None:
                self._task = self._rich.add_task("", total=event.total, eta=eta)
            if event.kind == "start":
                self._rich.update(self._task, description=f"{event.run_id}: {event.label}", eta=eta)
            else:
                self._rich.update(self._task, advance=1, eta=eta)
                if event.status != "ok":
                    self._rich.console.print(f"[red]{event.run_id} {event.status}[/red]: {event.error}")
            return
        if event.kind == "start":
            print(
                f"[{event.index}/{event.total}] {event.run_id} ({event.label}) started; ETA {eta}",
                file=self.stream,
                flush=True,
            )
        else:
            tail = f": {event.error}" if event.error else ""
            print(
                f"[{event.index}/{event.total}] {event.run_id} {event.status} "
                f"in {duration(event.wall_s)}{tail}",
                file=self.stream,
                flush=True,
            )
