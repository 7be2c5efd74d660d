"""The spare worker's fork server (llem.study.forkserver) and the runner's handle on what it forks
(llem.study.spare.Forked), with real processes: a server whose job is read from the job file itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from llem.study.processes import kill_group, pid_alive
from llem.study.spare import Spare

SERVER = """
import os, sys, time
from llem.study.forkserver import serve

def run(job):
    what = job.read_text()
    print(f"worker {os.getpid()} runs {job.name}", flush=True)
    if what == "hang":
        time.sleep(600)
    return int(what)

sys.exit(serve(0, run))
"""


def start_server(tmp_path: Path) -> Spare:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, start_new_session=True)
    return Spare(proc=proc, log_path=tmp_path / "spare.log")


def job(tmp_path: Path, name: str, what: str) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(what)
    return path


def test_each_job_gets_a_process_of_its_own_whose_exit_status_reaches_the_runner(tmp_path):
    spare = start_server(tmp_path)
    a = spare.fork(job(tmp_path, "a", "7"), tmp_path / "a.log", timeout_s=120)
    b = spare.fork(job(tmp_path, "b", "0"), tmp_path / "b.log", timeout_s=120)
    assert a is not None and b is not None and len({a.pid, b.pid, spare.proc.pid}) == 3
    assert (a.wait(timeout=120), b.wait(timeout=120)) == (7, 0)
    # each writes to the log the runner named, and nothing of one reaches the other's
    assert (tmp_path / "a.log").read_text() == f"worker {a.pid} runs a.json\n"
    assert (tmp_path / "b.log").read_text() == f"worker {b.pid} runs b.json\n"
    spare.discard()
    assert spare.proc.returncode == 0


def test_a_forked_worker_leads_its_own_group_and_the_runners_kill_ends_it(tmp_path):
    spare = start_server(tmp_path)
    hung = spare.fork(job(tmp_path, "h", "hang"), tmp_path / "h.log", timeout_s=120)
    assert hung is not None and hung.poll() is None
    assert os.getpgid(hung.pid) == hung.pid != os.getpgid(spare.proc.pid)  # the timeout kills it alone
    kill_group(hung)
    assert hung.returncode == -signal.SIGTERM and not pid_alive(hung.pid)
    assert spare.alive()  # the spare worker goes on serving
    again = spare.fork(job(tmp_path, "h", "5"), tmp_path / "h.log", timeout_s=120)  # a job file reused
    assert again is not None and again.wait(timeout=120) == 5  # not the stale status of the killed one
    spare.discard()


def test_a_spare_worker_that_is_gone_forks_nothing(tmp_path):
    spare = start_server(tmp_path)
    kill_group(spare.proc)
    assert spare.fork(job(tmp_path, "a", "0"), tmp_path / "a.log", timeout_s=120) is None
    assert not (tmp_path / "a.log").exists()
