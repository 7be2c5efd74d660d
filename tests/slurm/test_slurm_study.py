"""Studies through submitit: against the real slurmctld/slurmd that tests/slurm/setup.sh starts, and with
submitit's local executor.

Jobs are held at a gate the test controls (a `slurm.setup` line that waits while a file exists, or the
test-only gate backend), so "this job is running and has no result yet" is a state the test sets up before it
acts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from plugin_dists import GATE_PLUGIN, make_plugin_dist
from polling import wait_for as _wait_for

TINY = {
    "model": "random:tiny-llama",
    "backend": "pytorch",
    "precision": "fp32",
    "n_prompts": 2,
    "max_input_tokens": 8,
    "max_output_tokens": 4,
    "measurement": {"warmup_batches": 0, "timeseries": False},
}


def wait_for(predicate, what: str, timeout: float = 180.0):
    return _wait_for(predicate, what, timeout)


def runs(folder: Path) -> dict[str, dict]:
    try:
        return {r["id"]: r for r in json.loads((folder / "study.json").read_text())["runs"]}
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def start_runner(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from llem.cli import main; main()", "study", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def squeue_state(job_id: str) -> str:
    out = subprocess.run(["squeue", "-h", "-r", "-j", job_id, "-o", "%T"], capture_output=True, text=True)
    return out.stdout.strip()


def ok_outcomes(folder: Path, run_id: str) -> list[Path]:
    return [
        p
        for p in (folder / "runs" / run_id).glob("attempt-*/outcome.json")
        if json.loads(p.read_text())["status"] == "ok"
    ]


@pytest.mark.slow
def test_real_slurm_study_survives_a_cancelled_job_and_resumes_without_duplicates(
    tmp_path, slurm_cluster, llem_cli
):
    pytest.importorskip("llem_pytorch")
    pytest.importorskip("submitit")
    hold = tmp_path / "hold"
    hold.touch()
    study = tmp_path / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "base": TINY,
                "sweep": {"pytorch.batch_size": [1, 2]},
                "cycles": 2,
                "executor": "slurm",
                "slurm": {
                    "gpus_per_job": 0,
                    "poll_s": 0.2,
                    "setup": [f"while [ -e {hold} ]; do sleep 0.1; done"],
                    "sbatch": {"comment": "llem-ci"},
                },
            }
        )
    )
    out = tmp_path / "out"
    runner = start_runner(str(study), "--output", str(out), "--partition", "debug")
    try:
        queued = wait_for(
            lambda: (r := runs(out)) and all(x["job_id"] for x in r.values()) and r, "4 jobs submitted"
        )
        victim = queued["p002-c1"]["job_id"]
        wait_for(lambda: squeue_state(victim) == "RUNNING", f"job {victim} to run (held in its setup line)")
        subprocess.run(["scancel", victim], check=True)
        cancelled = wait_for(
            lambda: runs(out)["p002-c1"]["status"] == "failed" and runs(out)["p002-c1"], "the cancel recorded"
        )
        hold.unlink()  # let the other three jobs go on
        stdout, stderr = runner.communicate(timeout=300)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, stdout + stderr
    assert "study complete: 1 failed, 3 ok" in stdout
    assert "1 run(s) lost their SLURM job before a result" in stdout and "--resume" in stdout
    assert cancelled["failure"] == "job" and cancelled["job_state"] == "CANCELLED"
    assert f"SLURM job {victim} CANCELLED" in cancelled["error"]
    first = runs(out)
    assert {first[r]["status"] for r in ("p001-c1", "p001-c2", "p002-c2")} == {"ok"}
    assert all(first[r]["node"] for r in ("p001-c1", "p001-c2", "p002-c2"))
    script = next((out / "slurm").glob("*_submission.sh")).read_text()
    assert "#SBATCH --partition=debug" in script and "#SBATCH --comment=llem-ci" in script

    status = llem_cli("study", "status", str(out))
    assert "1 failed, 3 ok" in status.stdout and "CANCELLED" in status.stdout

    resumed = llem_cli("study", "run", "--resume", str(out), timeout=300)
    assert resumed.exit_code == 0, resumed.output
    assert "study complete: 4 ok" in resumed.stdout
    final = runs(out)
    assert final["p002-c1"]["attempts"] == 2 and final["p002-c1"]["job_id"] != victim
    for rid, rec in final.items():
        assert len(ok_outcomes(out, rid)) == 1, rid  # exactly one result per run: none lost, none twice
        assert rec["attempts"] == (2 if rid == "p002-c1" else 1)
        result = json.loads(next((out / rec["result_dir"]).glob("result.json")).read_text())
        assert result["status"] == "ok" and result["environment"]["hostname"] == rec["node"]
        assert result["environment"]["slurm_job_id"]  # the result names the job and node that measured it
    rows = (out / "summary" / "runs.csv").read_text().strip().splitlines()
    assert len(rows) == 5  # header + 4 runs, no duplicate
    import llem.study

    frames = llem.study.load(out)
    assert list(frames.nodes["n_ok"]) == [4] and list(frames.nodes["flags"]) == [""]  # one node, nothing odd
    assert set(frames.runs["node"]) == set(frames.nodes["node"])


@pytest.fixture
def gate_site(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_plugin_dist(plugin_site, "llem-gate", {"llem_gate": GATE_PLUGIN}, {"gate": "llem_gate"})
    monkeypatch.setenv("LLEM_DISABLE_PLUGINS", "pytorch,vllm,tensorrt")
    return plugin_site


def test_submitit_local_jobs_outlive_a_killed_runner_and_resume_reattaches(tmp_path, gate_site, llem_cli):
    pytest.importorskip("submitit")
    gate = tmp_path / "gate"
    started = tmp_path / "started"
    study = tmp_path / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "base": {
                    "model": "random:tiny-llama",
                    "backend": "gate",
                    "n_prompts": 2,
                    "max_output_tokens": 4,
                    "measurement": {"warmup_batches": 0, "timeseries": False},
                    "gate": {"path": str(gate)},
                },
                "sweep": {"gate.batch_size": [1, 2]},
                "executor": "slurm",
                "slurm": {"cluster": "local", "gpus_per_job": 0, "poll_s": 0.1},
            }
        )
    )
    out = tmp_path / "out"
    env = {**os.environ, "LLEM_GATE_STARTED": str(started)}
    runner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from llem.cli import main; main()",
            "study",
            "run",
            str(study),
            "--output",
            str(out),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: started.is_file() and len(started.read_text().splitlines()) == 2, "both jobs to load"
        )
        jobs = {rid: r["job_id"] for rid, r in runs(out).items()}
        assert all(jobs.values()) and len(set(jobs.values())) == 2
        runner.send_signal(signal.SIGKILL)  # the login node's runner dies; the jobs go on
        runner.wait(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    status = llem_cli("study", "status", str(out))
    assert "(no runner)" in status.stdout and "2 running" in status.stdout
    local = llem_cli("study", "run", "--resume", str(out), "--executor", "local")
    assert (
        local.exit_code == 2 and "2 SLURM job(s) of this study may still be queued or running" in local.stderr
    )
    assert all(r["attempts"] == 1 for r in runs(out).values())  # refused before running anything

    resumer = start_runner("--resume", str(out))
    wait_for(
        lambda: (out / "study.lock").is_file() and str(resumer.pid) in (out / "study.lock").read_text(),
        "the resumed runner to take the lock",
    )
    gate.touch()
    stdout, stderr = resumer.communicate(timeout=120)
    assert resumer.returncode == 0, stdout + stderr
    assert "study complete: 2 ok" in stdout
    final = runs(out)
    assert {rid: r["job_id"] for rid, r in final.items()} == jobs  # followed, not submitted again
    assert all(r["attempts"] == 1 for r in final.values())
    assert len(started.read_text().splitlines()) == 2  # each experiment loaded once: no duplicate
    for rid in final:
        assert len(ok_outcomes(out, rid)) == 1


def test_a_refused_submission_is_one_line_exit_2_and_resumable(tmp_path, slurm_cluster, gate_site, llem_cli):
    pytest.importorskip("submitit")
    study = tmp_path / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "base": {
                    "model": "random:tiny-llama",
                    "backend": "gate",
                    "n_prompts": 1,
                    "max_output_tokens": 2,
                    "gate": {"path": str(tmp_path / "gate")},
                },
                "executor": "slurm",
                "slurm": {"gpus_per_job": 0, "poll_s": 0.2},
            }
        )
    )
    out = tmp_path / "out"
    r = llem_cli("study", "run", str(study), "--output", str(out), "--partition", "no-such-partition")
    assert r.exit_code == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("llem: error: SLURM refused the jobs:") and "partition" in line
    saved = json.loads((out / "study.json").read_text())
    assert saved["status"] == "interrupted" and [x["status"] for x in saved["runs"]] == ["pending"]
    assert not list((out / "runs").glob("*/attempt-*"))  # nothing half-made left behind
    bad = llem_cli("study", "run", "--resume", str(out), "--sbatch", "exclusive")
    assert bad.exit_code == 2 and "expected NAME=VALUE" in bad.stderr

    # As if its job had then hit the time limit: resuming re-queues it, with twice the limit.
    saved["runs"][0].update(status="failed", failure="job", job_state="TIMEOUT", job_id="1")
    (out / "study.json").write_text(json.dumps(saved))
    gate = tmp_path / "gate"
    gate.touch()
    ok = llem_cli("study", "run", "--resume", str(out), "--partition", "debug", timeout=300)
    assert ok.exit_code == 0, ok.output
    assert "study complete: 1 ok" in ok.stdout
    (script,) = (out / "slurm").glob("*_submission.sh")
    assert "#SBATCH --time=20" in script.read_text()  # 2 x min_time_min
