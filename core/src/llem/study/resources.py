"""What a study's SLURM job asks for: GPUs from the experiment's world size, CPUs, memory and a time limit
from the study's estimate with a margin."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from llem.study.slurm_config import SlurmSettings

# Backend-section fields that multiply into the number of GPUs one experiment uses (the convention the
# multi-GPU backends share).
PARALLEL_FIELDS = ("tensor_parallel_size", "pipeline_parallel_size")


class JobResources(msgspec.Struct, kw_only=True, frozen=True):
    """The resources of one SLURM job."""

    gpus: int
    cpus: int
    mem_gb: float | None
    time_min: int


def world_size(config: Mapping[str, Any]) -> int:
    """GPUs one experiment uses: its measurement.gpu_indices, else the product of its backend section's
    parallel sizes, else 1."""
    indices = (config.get("measurement") or {}).get("gpu_indices")
    if indices:
        return len(indices)
    section = config.get(str(config.get("backend")))
    size = 1
    if isinstance(section, Mapping):
        for name in PARALLEL_FIELDS:
            size *= int(section.get(name) or 1)
    return size


def job_resources(
    configs: Sequence[Mapping[str, Any]], estimates_s: Sequence[float], timeout_s: float, slurm: SlurmSettings
) -> JobResources:
    """Resources for a job running `configs` one after the other (estimated `estimates_s` seconds each)."""
    gpus = slurm.gpus_per_job if slurm.gpus_per_job is not None else max(world_size(c) for c in configs)
    cpus = slurm.cpus_per_job or (slurm.cpus_per_gpu * gpus if gpus else 1)
    if slurm.time_min is not None:
        minutes = slurm.time_min
    else:
        wanted = math.ceil(sum(estimates_s) * slurm.time_margin / 60)
        cap = max(1, math.ceil(timeout_s * len(configs) / 60))
        minutes = min(max(wanted, slurm.min_time_min), cap)
    return JobResources(gpus=gpus, cpus=cpus, mem_gb=slurm.mem_gb, time_min=minutes)
