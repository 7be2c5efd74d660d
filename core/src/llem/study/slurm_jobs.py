"""What SLURM says about a study's jobs: state, node and reason, read with squeue, then scontrol, then sacct.

squeue knows queued and running jobs; a job that left the queue is still known to `scontrol show job` for
MinJobAge seconds, and to `sacct` where the cluster keeps accounting. Any of them may be missing or fail: the
answer is then UNKNOWN with the reason, never a guess."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable

import msgspec

from llem.study.processes import pid_alive

# States in which the job may still produce a result. UNKNOWN: the scheduler could not be asked (squeue
# failed, slurmctld restarting): nothing is concluded from it, the runner asks again later.
ACTIVE = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED", "UNKNOWN"}
)
# Terminal states and what each means for the experiment, as recorded in the study.
ENDED = {
    "COMPLETED": "the job ended without writing the experiment's outcome",
    "FAILED": "the job failed",
    "CANCELLED": "the job was cancelled (scancel, or an administrator)",
    "TIMEOUT": "the job reached its time limit (slurm.time_margin / slurm.time_min)",
    "PREEMPTED": "the job was preempted by a higher-priority job",
    "NODE_FAIL": "the node failed",
    "OUT_OF_MEMORY": "the job ran out of memory (slurm.mem_gb)",
    "BOOT_FAIL": "the node failed to boot",
    "DEADLINE": "the job reached its deadline",
    "ENDED": "the job left the queue; the scheduler no longer says how it ended (no accounting kept)",
}
TIMEOUT_S = 30


class JobState(msgspec.Struct, kw_only=True):
    """One job as the scheduler sees it."""

    job_id: str
    state: str
    node: str | None = None
    reason: str | None = None
    exit_code: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def describe(self) -> str:
        text = f"SLURM job {self.job_id} {self.state}"
        if self.node:
            text += f" on {self.node}"
        why = ENDED.get(self.state)
        if why:
            text += f": {why}"
        if self.reason and self.reason not in ("None", "(null)"):
            text += f" (reason: {self.reason})"
        if self.exit_code and self.exit_code not in ("0:0",):
            text += f" (exit code {self.exit_code})"
        return text


def slurm_states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """The state of each job id (`123` or `123_4`): squeue for live jobs, scontrol/sacct for ended ones."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    states = _squeue(ids)
    if states is None:
        return {
            j: JobState(job_id=j, state="UNKNOWN", reason="squeue did not answer; asking again later")
            for j in ids
        }
    for job_id in ids:
        if job_id not in states:
            states[job_id] = _scontrol(job_id) or _sacct(job_id) or JobState(job_id=job_id, state="ENDED")
    return states


def local_states(job_ids: Iterable[str]) -> dict[str, JobState]:
    """States of submitit local-executor jobs, whose ids are process ids on this machine."""
    out = {}
    for job_id in set(job_ids):
        alive = pid_alive(int(job_id)) if job_id.isdigit() else False
        out[job_id] = JobState(
            job_id=job_id,
            state="RUNNING" if alive else "COMPLETED",
            node=os.uname().nodename,
            reason=None if alive else "the local job process has exited",
        )
    return out


def cancel(job_ids: Iterable[str]) -> None:
    """scancel the given jobs (those already ended are ignored by SLURM)."""
    ids = list(job_ids)
    if ids and shutil.which("scancel"):
        subprocess.run(["scancel", *ids], capture_output=True, timeout=TIMEOUT_S, check=False)


def _run(cmd: list[str], *, gone_ok: bool = False) -> str | None:
    """The command's stdout; None when it is missing or failed. gone_ok: "Invalid job id" (every job asked
    about has left the controller's memory) is an empty answer, not a failure."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode == 0:
        return proc.stdout
    return "" if gone_ok and "Invalid job id" in proc.stderr else None


def _squeue(ids: list[str]) -> dict[str, JobState] | None:
    """Jobs among `ids` the controller still knows; None when squeue failed (nothing can be concluded)."""
    # -r: one line per array task (%i is then `123_4`); --states=all: ended jobs too, while the controller
    # keeps them (MinJobAge); %T the long state, %N the node(s), %r the reason.
    out = _run(["squeue", "-h", "-r", "--states=all", "-j", ",".join(ids), "-o", "%i|%T|%N|%r"], gone_ok=True)
    if out is None:
        return None
    states: dict[str, JobState] = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        job_id, state, node, reason = parts
        states[job_id] = JobState(job_id=job_id, state=state, node=node or None, reason=reason or None)
    return states


def _scontrol(job_id: str) -> JobState | None:
    out = _run(["scontrol", "-o", "show", "job", job_id])
    if not out:
        return None
    for line in out.splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        array = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
        this = f"{array[0]}_{array[1]}" if array[0] and array[1] else fields.get("JobId")
        if this == job_id or fields.get("JobId") == job_id:
            return JobState(
                job_id=job_id,
                state=fields.get("JobState", "UNKNOWN"),
                node=_node(fields.get("NodeList")),
                reason=fields.get("Reason"),
                exit_code=fields.get("ExitCode"),
            )
    return None


def _sacct(job_id: str) -> JobState | None:
    out = _run(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State,NodeList,ExitCode,Reason"])
    for line in (out or "").splitlines():
        parts = line.split("|")
        if len(parts) >= 4 and parts[0] == job_id:
            return JobState(
                job_id=job_id,
                state=parts[1].split()[0],  # "CANCELLED by 0" -> CANCELLED
                node=_node(parts[2]),
                exit_code=parts[3],
                reason=parts[4] if len(parts) > 4 else None,
            )
    return None


def _node(text: str | None) -> str | None:
    return None if not text or text in ("(null)", "None assigned") else text
