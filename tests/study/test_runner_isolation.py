"""The runner's isolation machinery against workers that really crash or hang (no model needed).

The worker here is a stand-in executable passed as `python=`: a shell script that kills itself with SIGKILL
(what the kernel's OOM killer does) or never returns (a hang, with a grandchild to show the whole process
group dies). The real-model versions of these failures are in test_study_run.py."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import DeviceInfo
from llem.study.config import study_from_dict
from llem.study.manifest import load_manifest, save_manifest
from llem.study.planning import plan_study
from llem.study.runner import run_study


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def planned(tmp_path: Path, toy_site: Path, **study):
    cfg, base = study_from_dict({"base": {"model": "m", "backend": "toy"}, **study})
    manifest = plan_study(cfg, base, plugins=get_plugin_manager(), device=DeviceInfo())
    folder = tmp_path / "study"
    folder.mkdir()
    save_manifest(folder, manifest)
    return manifest, folder


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie still answers kill(0); read its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_a_worker_killed_by_a_signal_is_recorded_and_the_breaker_stops_the_study(tmp_path, toy_site):
    manifest, folder = planned(
        tmp_path, toy_site, sweep={"toy.batch_size": [1, 2, 3, 4]}, max_consecutive_failures=2
    )
    fake = script(tmp_path, 'echo "CUDA out of memory (pretend)"; kill -9 $$')
    events = []
    final = run_study(manifest, folder, python=fake, progress=events.append)
    assert [r.status for r in final.runs] == ["failed", "failed", "skipped", "skipped"]
    assert final.runs[0].failure == "crash"
    assert (
        "killed by SIGKILL" in final.runs[0].error and "CUDA out of memory (pretend)" in final.runs[0].error
    )
    # a SIGKILL is not necessarily the OOM killer (here the script killed itself): say what is known
    assert "the kernel's out-of-memory killer or a kill -9 from outside" in final.runs[0].error
    assert final.runs[2].failure == "breaker" and "2 consecutive failures" in final.runs[2].error
    assert final.status == "aborted"
    saved = load_manifest(folder)  # what a later reader (or --resume) sees
    assert [r.status for r in saved.runs] == ["failed", "failed", "skipped", "skipped"]
    assert [(e.kind, e.index, e.total) for e in events][:2] == [("start", 1, 4), ("finish", 1, 4)]
    assert (folder / "summary" / "runs.csv").read_text().count("\n") == 5


def test_a_hung_worker_is_killed_with_its_whole_process_group(tmp_path, toy_site):
    manifest, folder = planned(tmp_path, toy_site, sweep={"toy.batch_size": [1]}, timeout_s=1.0)
    pids = tmp_path / "pids"
    fake = script(tmp_path, f"sleep 300 & echo $! > {pids}; echo $$ >> {pids}; wait")
    t0 = time.monotonic()
    final = run_study(manifest, folder, python=fake)
    assert time.monotonic() - t0 < 15
    (run,) = final.runs
    assert (run.status, run.failure) == ("failed", "timeout")
    assert "timed out after 1 s" in run.error
    child, leader = (int(x) for x in pids.read_text().split())
    deadline = time.monotonic() + 5
    while not (gone(child) and gone(leader)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(child) and gone(leader)


def test_resume_skips_completed_runs_and_adopts_finished_outcomes(tmp_path, toy_site):
    manifest, folder = planned(tmp_path, toy_site, sweep={"toy.batch_size": [1, 2, 3]})
    # p001 completed and recorded; p002's worker finished (outcome.json on disk) but the study died before
    # recording it; p003 was in flight.
    manifest.runs[0].status = "ok"
    manifest.runs[1].status = manifest.runs[2].status = "running"
    save_manifest(folder, manifest)
    out = folder / "runs" / "p002-c1"
    out.mkdir(parents=True)
    (out / "outcome.json").write_text('{"run_id":"p002-c1","status":"ok","started_at":1.0,"finished_at":3.5}')
    calls = tmp_path / "calls"
    fake = script(tmp_path, f'echo "$3" >> {calls}; exit 3')
    final = run_study(load_manifest(folder), folder, python=fake)
    assert [Path(line).name for line in calls.read_text().split()] == ["p003-c1.json"]
    assert [r.status for r in final.runs] == ["ok", "ok", "failed"]
    assert final.runs[1].wall_s == pytest.approx(2.5)
    assert "exited with status 3" in final.runs[2].error


def test_sigterm_stops_the_study_cleanly_with_runs_left_pending(tmp_path, toy_site):
    import json
    import signal
    import subprocess
    import sys

    _, folder = planned(tmp_path, toy_site, sweep={"toy.batch_size": [1, 2]})
    pids = tmp_path / "pids"
    fake = script(tmp_path, f"echo $$ >> {pids}; exec sleep 300")
    code = (
        "import sys; from pathlib import Path\n"
        "from llem.study.manifest import load_manifest\n"
        "from llem.study.runner import run_study, StudyInterrupted\n"
        f"folder = Path({str(folder)!r})\n"
        "try:\n"
        f"    run_study(load_manifest(folder), folder, python={fake!r})\n"
        "except StudyInterrupted:\n"
        "    sys.exit(130)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids.exists(), "the worker never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 130
    saved = json.loads((folder / "study.json").read_text())
    assert saved["status"] == "interrupted"
    assert [r["status"] for r in saved["runs"]] == ["pending", "pending"]  # nothing counted as done or failed
    worker = int(pids.read_text().split()[0])
    deadline = time.monotonic() + 5
    while not gone(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(worker)


def test_a_worker_ends_without_teardown_and_loses_no_output():
    """The worker skips the interpreter's teardown (seconds with torch and a model loaded), but flushes its
    output first and keeps its exit status."""
    code = (
        "import sys\n"
        "from llem.study.worker import exit_now\n"
        "print('outcome written', end='')\n"
        "sys.stderr.write('last log line')\n"
        "exit_now(3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (out.returncode, out.stdout, out.stderr) == (3, "outcome written", "last log line")
