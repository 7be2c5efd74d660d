"""The `slurm:` section of a study file: where and with what resources its experiments run as SLURM jobs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta


class NodeGpus(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The GPUs of one compute node, for planning on a machine that has none (a login node)."""

    name: Annotated[str, Meta(description="GPU model, e.g. 'NVIDIA H100 80GB HBM3'.")]
    compute_capability: Annotated[
        tuple[int, int], Meta(description="Compute capability as [major, minor], e.g. [9, 0] for Hopper.")
    ]
    count: Annotated[int, Meta(ge=1, description="GPUs per node.")] = 1


class SlurmSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How `executor: slurm` submits a study's experiments: each one a job (several, with reuse_model, share
    one), as one job array per `llem study run`. Fields left null take what the config implies or the
    cluster's default."""

    partition: Annotated[str | None, Meta(description="sbatch --partition (None: the default one).")] = None
    account: Annotated[str | None, Meta(description="sbatch --account.")] = None
    qos: Annotated[str | None, Meta(description="sbatch --qos.")] = None
    constraint: Annotated[str | None, Meta(description="sbatch --constraint, e.g. 'h100|a100'.")] = None
    gpus_per_job: Annotated[
        Annotated[int, Meta(ge=0)] | None,
        Meta(
            description="GPUs per job (--gpus-per-node). None: the experiment's world size (the backend "
            "section's tensor_parallel_size x pipeline_parallel_size, or the number of "
            "measurement.gpu_indices; 1 otherwise). 0 for CPU-only jobs."
        ),
    ] = None
    cpus_per_gpu: Annotated[
        int, Meta(ge=1, description="CPUs per job per GPU (--cpus-per-task = this x GPUs; 1 GPU-less).")
    ] = 8
    cpus_per_job: Annotated[
        Annotated[int, Meta(ge=1)] | None, Meta(description="CPUs per job; replaces cpus_per_gpu x GPUs.")
    ] = None
    mem_gb: Annotated[
        Annotated[float, Meta(gt=0)] | None,
        Meta(description="Memory per job in GB (--mem). None: the cluster's default."),
    ] = None
    time_margin: Annotated[
        float,
        Meta(
            ge=1.0,
            description="Job time limit = the study's estimate for the job's experiments x this margin (at "
            "least min_time_min, at most timeout_s per experiment).",
        ),
    ] = 2.0
    min_time_min: Annotated[int, Meta(ge=1, description="Shortest job time limit (minutes).")] = 10
    time_min: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="Job time limit in minutes; replaces the estimate."),
    ] = None
    sbatch: Annotated[
        dict[str, Any],
        Meta(
            description="Extra sbatch options, name -> value (e.g. {exclusive: true, reservation: x, "
            "'mail-type': END}); a true value is a bare flag."
        ),
    ] = msgspec.field(default_factory=dict)
    setup: Annotated[
        list[str],
        Meta(description="Shell lines run in the job before the experiment (e.g. 'module load cuda/12.4')."),
    ] = msgspec.field(default_factory=list)
    max_parallel_jobs: Annotated[
        int, Meta(ge=1, description="Jobs of the array that may run at the same time (%N of --array).")
    ] = 64
    poll_s: Annotated[
        float, Meta(gt=0, description="How often the runner looks at the jobs and the study folder (s).")
    ] = 10.0
    python: Annotated[
        str | None,
        Meta(
            description="Python command on the nodes (None: the interpreter running llem, which must be on "
            "the shared filesystem)."
        ),
    ] = None
    cluster: Annotated[
        Literal["slurm", "local"],
        Meta(
            description="slurm: submit with sbatch. local: submitit's local executor runs the same jobs as "
            "processes on this machine (try a cluster study without a cluster)."
        ),
    ] = "slurm"
    node_gpus: Annotated[
        NodeGpus | None,
        Meta(
            description="The compute nodes' GPUs: `llem study plan` and `run` validate and prune the points "
            "against these instead of this machine's (a login node often has no GPU). None: this machine's."
        ),
    ] = None
    job_folder: Annotated[
        str,
        Meta(description="Folder, inside the study folder, for submitit's job scripts and job logs."),
    ] = "slurm"
