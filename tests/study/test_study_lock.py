"""One runner per study folder, and no attempt ever deleted: real `llem study run` processes on one folder.

The experiments use a test-only backend (tests/plugin_dists.py GATE_PLUGIN) that waits for a file the test
creates, so "the first runner is mid-experiment" is a state the test sets up, not a race it hopes to win."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from plugin_dists import GATE_PLUGIN, make_plugin_dist
from polling import wait_for as _wait_for


@pytest.fixture
def gate_site(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_plugin_dist(plugin_site, "llem-gate", {"llem_gate": GATE_PLUGIN}, {"gate": "llem_gate"})
    monkeypatch.setenv("LLEM_DISABLE_PLUGINS", "pytorch,vllm,tensorrt")
    return plugin_site


def write_study(path: Path, gate: Path, **study) -> Path:
    base = {
        "model": "random:tiny-llama",
        "backend": "gate",
        "n_prompts": 2,
        "max_output_tokens": 4,
        "measurement": {"warmup_batches": 0, "timeseries": False},
        "gate": {"path": str(gate)},
    }
    path.write_text(yaml.safe_dump({"base": base, **study}, sort_keys=False))
    return path


def wait_for(predicate, what: str, timeout: float = 60.0):
    return _wait_for(predicate, what, timeout)


def runs(folder: Path) -> list[dict]:
    try:
        return json.loads((folder / "study.json").read_text())["runs"]
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def start_runner(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from llem.cli import main; main()", "study", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_runner_is_refused_naming_the_holder_and_the_lock_dies_with_it(
    tmp_path, gate_site, llem_cli
):
    gate = tmp_path / "gate"
    study = write_study(tmp_path / "s.yaml", gate, sweep={"gate.batch_size": [1, 2]})
    out = tmp_path / "out"
    first = start_runner(str(study), "--output", str(out))
    try:
        wait_for(lambda: any(r["status"] == "running" for r in runs(out)), "the first experiment to start")

        second = llem_cli("study", "run", "--resume", str(out))
        assert second.exit_code == 2, second.output
        (line,) = second.stderr.strip().splitlines()  # one line, no traceback
        assert f"pid {first.pid} on host {socket.gethostname()}" in line
        assert "another `llem study run` is using this study folder" in line and str(out) in line
        again = llem_cli("study", "run", str(study), "--output", str(out))
        assert again.exit_code == 2 and "already holds a study" in again.stderr

        status = llem_cli("study", "status", str(out))
        assert status.exit_code == 0, status.output
        assert f"runner: pid {first.pid}" in status.stdout
        assert "p001-c1  running" in status.stdout and "p002-c1  pending" in status.stdout

        first.send_signal(signal.SIGKILL)  # the kernel drops the lock with the process
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert runs(out)[0]["status"] == "running"
    dead_attempt = out / runs(out)[0]["attempt_dir"]
    assert dead_attempt.is_dir()

    gate.touch()
    resumed = llem_cli("study", "run", str(study), "--resume", str(out), timeout=120)  # same file: accepted
    assert resumed.exit_code == 0, resumed.output
    assert "study complete: 2 ok" in resumed.stdout
    final = runs(out)
    assert [r["attempts"] for r in final] == [2, 1]
    # the cut-short attempt was kept, the result lives in a new attempt folder
    assert dead_attempt.is_dir() and final[0]["attempt_dir"].endswith("attempt-2")
    assert (out / final[0]["result_dir"] / "result.json").is_file()
    assert (out / "study.lock").read_text().strip() != ""  # names the last holder
    status = llem_cli("study", "status", str(out))
    assert "(no runner)" in status.stdout and "2 ok" in status.stdout
    as_json = json.loads(llem_cli("study", "status", str(out), "--json").stdout)
    assert as_json["runner"] is None and as_json["counts"] == {"ok": 2}
    assert [r["attempts"] for r in as_json["runs"]] == [2, 1]


def test_retrying_a_failed_run_keeps_the_failed_attempt(tmp_path, gate_site, llem_cli):
    gate = tmp_path / "gate"
    gate.touch()
    study = write_study(tmp_path / "s.yaml", gate, experiments=[{"gate.fail": True}, {"gate.batch_size": 2}])
    out = tmp_path / "out"
    r = llem_cli("study", "run", str(study), "--output", str(out), timeout=120)
    assert r.exit_code == 0, r.output
    failed = runs(out)[0]
    assert failed["status"] == "failed" and "told to fail" in failed["error"]
    first_attempt = out / failed["attempt_dir"]
    outcome = (first_attempt / "outcome.json").read_bytes()

    r = llem_cli("study", "run", "--resume", str(out), "--retry-failed", timeout=120)
    assert r.exit_code == 0, r.output
    again = runs(out)[0]
    assert again["attempts"] == 2 and again["attempt_dir"] != failed["attempt_dir"]
    assert (first_attempt / "outcome.json").read_bytes() == outcome  # never deleted nor rewritten
    assert runs(out)[1]["attempts"] == 1  # the ok run was not touched
