"""Real studies on the tiny random-weight Llama (PyTorch backend, CPU): complete sweeps, failures that are
recorded while the study goes on, and resume after the study process is SIGKILLed.

How the failures are provoked (nothing test-only in the code under test):
- crash: `passthrough_kwargs: {bogus_generate_kwarg: 1}` makes transformers' generate raise ValueError
  ("model_kwargs are not used by the model"); the run engine records it and the worker reports it.
- hang: the prompts come from a named pipe (FIFO) that nobody writes, so reading the prompt file blocks
  forever inside the worker, as a stuck read on a network filesystem would; only the study's timeout ends it.
  It runs in a study of its own, so the short timeout never races a real model load.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("llem_pytorch")
pytestmark = pytest.mark.slow

BASE = {
    "model": "random:tiny-llama",
    "backend": "pytorch",
    "precision": "fp32",
    "n_prompts": 4,
    "max_input_tokens": 8,
    "max_output_tokens": 4,
    "measurement": {"warmup_batches": 1, "timeseries": False},
}


def write_study(path: Path, **study) -> Path:
    path.write_text(yaml.safe_dump({"base": BASE, **study}, sort_keys=False))
    return path


def manifest(folder: Path) -> dict:
    return json.loads((folder / "study.json").read_text())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_two_axis_sweep_with_two_cycles_runs_to_completion(tmp_path, llem_cli):
    study = write_study(
        tmp_path / "sweep.yaml",
        sweep={"pytorch.batch_size": [1, 2], "decoder.preset": ["deterministic", "standard"]},
        cycles=2,
        reuse_model=True,
        timeout_s=120,
    )
    out = tmp_path / "out"
    r = llem_cli("study", "run", str(study), "--output", str(out), timeout=300)
    assert r.exit_code == 0, r.output
    assert "study complete: 8 ok" in r.stdout
    assert "[8/8] p004-c2 ok" in r.stderr  # plain progress lines when not on a terminal
    m = manifest(out)
    assert m["status"] == "complete" and len(m["points"]) == 4
    # one worker loaded the model once; the 7 later runs reused it (batch size, decoder: runtime settings)
    assert sum(run["model_reused"] for run in m["runs"]) == 7
    assert len(list((out / "logs").glob("*.log"))) == 1

    import llem
    import llem.study

    runs, agg = llem.study.load(out)
    assert len(runs) == 8 and set(runs["status"]) == {"ok"}
    assert (runs["output_tokens"] == 16).all()  # 4 prompts × 4 tokens, fixed output length
    assert runs["energy_per_output_token_j"].isna().all()  # not measured on this machine: missing, never 0
    assert list(agg["n_ok"]) == [2, 2, 2, 2]
    assert agg["output_tokens_per_s_std"].notna().all() and agg["output_tokens_per_s_ci95"].notna().all()
    assert sorted(agg["pytorch.batch_size"]) == [1, 1, 2, 2]
    assert (out / "summary" / "runs.csv").is_file() and (out / "summary" / "aggregate.parquet").is_file()
    table = llem.results.load(out)  # the public one-call reader: a study folder gives its runs table
    assert len(table) == 8 and list(table["run_id"]) == list(runs["run_id"])

    rep = llem_cli("report", str(out))
    assert rep.exit_code == 0, rep.output
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3  # front + one per swept parameter
    assert "Energy was not measured" in html


def test_a_crash_is_recorded_as_failed_and_the_rest_is_measured(tmp_path, llem_cli):
    # A generous timeout: worker start, torch import and model load on a loaded 2-core CI box must never be
    # what decides this test (the timeout itself is tested on a hang, below).
    study = write_study(
        tmp_path / "failing.yaml",
        experiments=[{"passthrough_kwargs": {"bogus_generate_kwarg": 1}}, {"pytorch.batch_size": 2}],
        timeout_s=600,
        order="sequential",
    )
    out = tmp_path / "out"
    r = llem_cli("study", "run", str(study), "--output", str(out), timeout=1200)
    assert r.exit_code == 0, r.output
    crash, good = manifest(out)["runs"]
    assert (crash["status"], crash["failure"]) == ("failed", "error")
    assert "bogus_generate_kwarg" in crash["error"]
    assert good["status"] == "ok"
    result = json.loads(next((out / good["result_dir"]).glob("result.json")).read_text())
    assert result["status"] == "ok" and result["metrics"]["output_tokens"] == 16
    # the worker measured exactly the config the plan validated and hashed
    assert result["config_hash"] == manifest(out)["points"][1]["config_hash"]
    assert "study complete: 1 failed, 1 ok" in r.stdout


def test_a_hang_is_killed_at_the_timeout_and_recorded(tmp_path, llem_cli):
    # The run blocks reading the FIFO (or is still starting when the timeout hits): either way the study must
    # kill the worker at timeout_s and record a timeout, so the machine's speed cannot change the outcome.
    fifo = tmp_path / "prompts.txt"
    os.mkfifo(fifo)
    study = write_study(
        tmp_path / "hang.yaml",
        experiments=[{"prompts": {"source": "file", "path": str(fifo), "format": "text"}}],
        timeout_s=5,
    )
    out = tmp_path / "out"
    r = llem_cli("study", "run", str(study), "--output", str(out), timeout=600)
    assert r.exit_code == 0, r.output
    (hang,) = manifest(out)["runs"]
    assert (hang["status"], hang["failure"]) == ("failed", "timeout")
    assert "timed out after 5 s" in hang["error"]
    assert not pid_alive(hang["worker_pid"])
    assert "study complete: 1 failed" in r.stdout


def test_resume_after_sigkill_does_not_rerun_completed_experiments(tmp_path, llem_cli):
    study = write_study(tmp_path / "resume.yaml", sweep={"pytorch.batch_size": [1, 2, 4]}, timeout_s=120)
    out = tmp_path / "out"
    proc = subprocess.Popen(
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            runs = manifest(out)["runs"]
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        if runs[0]["status"] == "ok" and runs[1]["status"] == "running":
            break
    else:
        proc.kill()
        pytest.fail("the study never reached its second experiment")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    before = manifest(out)["runs"]
    done = {r["id"]: r for r in before if r["status"] == "ok"}
    assert "p001-c1" in done and len(done) < 3
    stamps = {
        rid: (out / run["attempt_dir"] / "outcome.json").stat().st_mtime_ns for rid, run in done.items()
    }
    # the worker of the experiment in flight dies with the study (PR_SET_PDEATHSIG), it does not linger
    in_flight = before[1]["worker_pid"]
    t0 = time.monotonic()
    while pid_alive(in_flight) and time.monotonic() - t0 < 10:
        time.sleep(0.1)
    assert not pid_alive(in_flight)

    r = llem_cli("study", "run", "--resume", str(out), timeout=300)
    assert r.exit_code == 0, r.output
    after = {run["id"]: run for run in manifest(out)["runs"]}
    assert all(run["status"] == "ok" for run in after.values())
    for rid, old in done.items():
        assert after[rid]["attempts"] == 1 and after[rid]["result_dir"] == old["result_dir"]
        assert (out / old["attempt_dir"] / "outcome.json").stat().st_mtime_ns == stamps[rid]
    assert after["p002-c1"]["attempts"] == 2
    # the attempt cut short by the kill is kept beside the one that finished
    assert (out / before[1]["attempt_dir"]).is_dir()
    assert after["p002-c1"]["attempt_dir"] != before[1]["attempt_dir"]
    assert f"[1/{3 - len(done)}]" in r.stderr
