"""Reading job states when the scheduler cannot answer: nothing is concluded (no run marked failed, so
nothing is re-queued while it may still be running). The SLURM commands here are stand-in scripts on PATH
that fail the way the real ones do; the real commands are exercised in tests/slurm/."""

from __future__ import annotations

import stat
from pathlib import Path

from llem.study.slurm_jobs import slurm_states


def fake_commands(folder: Path, **scripts: str) -> str:
    folder.mkdir()
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(folder)


def test_a_controller_that_does_not_answer_leaves_every_job_active(tmp_path, monkeypatch):
    bin_dir = fake_commands(
        tmp_path / "bin",
        squeue='echo "slurm_load_jobs error: Unable to contact slurm controller" >&2; exit 1',
        scontrol="exit 1",
        sacct="exit 1",
    )
    monkeypatch.setenv("PATH", bin_dir)
    states = slurm_states(["12_0", "13"])
    assert {s.state for s in states.values()} == {"UNKNOWN"} and all(s.active for s in states.values())


def test_a_job_nobody_knows_any_more_has_ended_and_says_so(tmp_path, monkeypatch):
    bin_dir = fake_commands(
        tmp_path / "bin",
        squeue='echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1',
        scontrol='echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1',
    )
    monkeypatch.setenv("PATH", bin_dir)  # no sacct: a cluster without accounting
    (state,) = slurm_states(["12_0"]).values()
    assert state.state == "ENDED" and not state.active
    assert "no longer says how it ended" in state.describe()


def test_squeue_and_scontrol_answers_are_parsed(tmp_path, monkeypatch):
    bin_dir = fake_commands(
        tmp_path / "bin",
        squeue='echo "12_0|RUNNING|gpu07|None"; echo "12_1|PENDING||Priority"',
        scontrol='echo "JobId=14 ArrayJobId=12 ArrayTaskId=2 JobState=PREEMPTED Reason=None NodeList=gpu03 '
        'ExitCode=0:15"',
    )
    monkeypatch.setenv("PATH", bin_dir)
    states = slurm_states(["12_0", "12_1", "12_2"])
    assert (states["12_0"].state, states["12_0"].node) == ("RUNNING", "gpu07")
    assert (states["12_1"].state, states["12_1"].reason) == ("PENDING", "Priority")
    ended = states["12_2"]
    assert (ended.state, ended.node, ended.active) == ("PREEMPTED", "gpu03", False)
    assert ended.describe() == (
        "SLURM job 12_2 PREEMPTED on gpu03: the job was preempted by a higher-priority job (exit code 0:15)"
    )
