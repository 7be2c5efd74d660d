"""A server started by llem (server.start_command): readiness bounded, and never left running.

Real child processes: the local test server, and small Python commands that never become ready or exit.
Every wait is bounded (ready timeouts of a second or two; pytest-timeout guards the rest).
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from llem_server._process import ServerNotReady, start_server
from openai_test_server import free_port

pytestmark = pytest.mark.timeout(120)

TEST_SERVER = str(Path(__file__).parent / "openai_test_server.py")


def _gone(pid: int, limit_s: float = 5.0) -> bool:
    """Whether `pid` has exited (a zombie counts), waiting up to limit_s for the signal's delivery."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _wait_for_file(path: Path, limit_s: float = 30.0) -> str:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} was never written")


def _answers(url: str) -> bool:
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=1):
            return True
    except OSError:
        return False


def test_a_server_that_never_gets_ready_is_killed_after_the_timeout(tmp_path):
    pid_file = tmp_path / "pid"
    cmd = [
        sys.executable,
        "-c",
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)",
    ]
    with pytest.raises(ServerNotReady, match=r"did not answer .* within 1 s \(server.ready_timeout_s\)"):
        start_server(
            cmd, f"http://127.0.0.1:{free_port()}/v1/models", ready_timeout_s=1.0, stop_timeout_s=2.0
        )
    assert _gone(int(_wait_for_file(pid_file)))


def test_a_server_that_exits_reports_its_status_and_output():
    cmd = [sys.executable, "-c", "import sys; print('error: unknown flag --bogus'); sys.exit(3)"]
    with pytest.raises(ServerNotReady, match=r"exited with status 3 .*unknown flag --bogus"):
        start_server(cmd, f"http://127.0.0.1:{free_port()}/v1/models", ready_timeout_s=30.0)


def test_stop_ends_the_whole_process_group(tmp_path):
    port, pid_file = free_port(), tmp_path / "grandchild"
    cmd = ["sh", "-c", f"sleep 600 & echo $! > {pid_file}; exec {sys.executable} {TEST_SERVER} --port {port}"]
    child = start_server(cmd, f"http://127.0.0.1:{port}/health", ready_timeout_s=60.0, stop_timeout_s=5.0)
    grandchild = int(_wait_for_file(pid_file))
    assert child.running and not _gone(grandchild, 0)
    child.stop()
    assert not child.running and _gone(grandchild)
    assert not _answers(f"http://127.0.0.1:{port}/health")
    child.stop()  # idempotent


def _config(tmp_path: Path, start_command: list[str], port: int, **server) -> Path:
    path = tmp_path / "serve.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model": "random:tiny-llama",
                "backend": "server",
                "n_prompts": 8,
                "max_input_tokens": 16,
                "max_output_tokens": 4,
                "measurement": {"energy_sampler": "none"},
                "load": {"request_rate": 100.0, "warmup_s": 0.05, "n_requests": 10, "cooldown_s": 0.0},
                "slo": {"ttft_ms": 10000},
                "server": {"url": f"http://127.0.0.1:{port}", "start_command": start_command, **server},
            }
        )
    )
    return path


def test_llem_run_starts_measures_and_stops_the_server(llem_cli, tmp_path):
    port = free_port()
    config = _config(tmp_path, [sys.executable, TEST_SERVER, "--port", str(port)], port, ready_timeout_s=60)
    result = llem_cli("run", str(config), "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output[-3000:]
    for line in ("offered / achieved", "goodput", "TPOT", "energy              not measured"):
        assert line in result.stdout
    assert not _answers(f"http://127.0.0.1:{port}/health")  # stopped after the run


def test_ctrl_c_while_waiting_for_the_server_stops_it(tmp_path):
    port, pid_file = free_port(), tmp_path / "pid"
    never = [
        sys.executable,
        "-c",
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)",
    ]
    config = _config(tmp_path, never, port, ready_timeout_s=300)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from llem.cli import main; main()",
            "run",
            str(config),
            "--output",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        server_pid = int(_wait_for_file(pid_file, 60.0))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert _gone(server_pid)


def test_bad_load_settings_are_one_line_errors(llem_cli, tmp_path):
    config = _config(tmp_path, [sys.executable, TEST_SERVER], 1)
    result = llem_cli("run", str(config), "--set", "load.arrival=closed-loop", "--output", str(tmp_path))
    assert result.exit_code == 2
    assert "max_concurrency is required for arrival: closed-loop" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "results").exists()


def test_ctrl_c_while_measuring_stops_the_server_and_records_the_interruption(tmp_path):
    port, touched = free_port(), tmp_path / "first-request"
    cmd = [sys.executable, TEST_SERVER, "--port", str(port), "--touch", str(touched)]
    config = _config(tmp_path, cmd, port, ready_timeout_s=60)
    data = yaml.safe_load(config.read_text())
    data["load"] = {"request_rate": 20.0, "warmup_s": 0.1, "duration_s": 600.0}
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from llem.cli import main; main()", "run", str(config), "--output", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_file(touched, 60.0)  # the load is running
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert not _answers(f"http://127.0.0.1:{port}/health")  # the started server was stopped
    (result,) = out.glob("*/result.json")
    saved = yaml.safe_load(result.read_text())  # JSON is YAML
    assert saved["status"] == "failed" and "interrupted by the user" in saved["error"]
