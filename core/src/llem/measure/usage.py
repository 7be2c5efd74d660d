"""Which GPUs a run really uses: those where this process or one of its descendants holds a compute context.

Backends run on GPUs in worker processes of their own (vLLM's engine core, data-parallel workers), so the
process tree is searched, through /proc (Linux), and matched with NVML's list of compute processes per GPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from llem.measure.nvml import NvmlUnavailable, nvml_init, nvml_shutdown


def process_tree(root: int, proc: Path = Path("/proc")) -> set[int]:
    """`root` and every live descendant of it (read from /proc/<pid>/stat; just `root` elsewhere)."""
    parents: dict[int, int] = {}
    try:
        entries = list(proc.iterdir())
    except OSError:
        return {root}
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: the fields after its last ")" are fixed
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            parents[int(entry.name)] = int(fields[1])
    tree = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return tree


def gpus_in_use(pids: Iterable[int]) -> set[int] | None:
    """NVML indices of the GPUs on which any of `pids` holds a compute context; None when NVML cannot say."""
    wanted = set(pids)
    try:
        nv = nvml_init()
    except NvmlUnavailable:
        return None
    try:
        used = set()
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            try:
                running = nv.nvmlDeviceGetComputeRunningProcesses(h)
            except Exception:
                return None  # not supported here: usage unknown, never guessed
            if any(p.pid in wanted for p in running):
                used.add(i)
        return used
    finally:
        nvml_shutdown(nv)


@dataclass(frozen=True)
class Placement:
    """The GPUs to measure, and what the result must say about the ones left out or missing."""

    measure: list[int]
    notes: list[str]


def place(measured: list[int], used: set[int] | None, *, named: bool) -> Placement:
    """Decide which GPUs' counters are summed, given the GPUs the run uses.

    measured: the GPUs the meter reads now (measurement.gpu_indices, else every visible GPU); named: whether
    the config named them. A visible GPU the run does not use is not counted unless the config named it (its
    idle draw would otherwise be charged to the run); a GPU the run uses but the config did not name is a loud
    note.
    """
    if used is None or not measured:
        return Placement(measured, [])
    notes = []
    missing = sorted(used - set(measured))
    if missing:
        notes.append(
            f"WARNING: the run uses GPU {', '.join(map(str, missing))} but measurement.gpu_indices "
            f"({measured}) does not name {'it' if len(missing) == 1 else 'them'}: "
            "that energy is missing from every total and per-token figure"
        )
    idle = sorted(set(measured) - used)
    if idle and named:
        notes.append(
            f"GPU {', '.join(map(str, idle))} is measured (measurement.gpu_indices) but the run does not use "
            "it: its idle draw is counted in the totals"
        )
        return Placement(measured, notes)
    if idle and used & set(measured):
        keep = [i for i in measured if i in used]
        notes.append(
            f"energy summed over GPU {', '.join(map(str, keep))}, the GPUs the run uses; visible but unused "
            f"GPU {', '.join(map(str, idle))} not counted"
        )
        return Placement(keep, notes)
    return Placement(measured, notes)


def this_process_tree() -> set[int]:
    return process_tree(os.getpid())
