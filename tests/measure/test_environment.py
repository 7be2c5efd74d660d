"""Environment snapshot and temperature settling, on a fake pynvml replaying a trace (no GPU in CI)."""

from __future__ import annotations

import socket

import msgspec
import pytest
from llem.measure.environment import (
    Environment,
    gpu_temperatures,
    installed_versions,
    settle_temperature,
    snapshot_environment,
)
from nvml_replay import synthetic_trace


def test_snapshot_records_what_reproduction_needs(replay, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    replay([synthetic_trace()], start_s=1.0)
    env = snapshot_environment([0])
    gpu = env.gpus[0]
    assert (gpu.index, gpu.name, gpu.uuid, gpu.driver) == (0, "Synthetic H100", "GPU-synthetic-0", "580.00")
    assert (gpu.cuda_driver_version, gpu.compute_capability, gpu.power_limit_w) == ("13.0", (9, 0), 700.0)
    assert gpu.persistence_mode is True and gpu.temperature_c == 38.0 and gpu.pstate == 0
    assert env.cuda_visible_devices == "0" and env.python and env.os and env.cpu_cores
    assert env.slurm_job_id == "4242" and env.hostname == socket.gethostname()  # which job, on which node
    assert env.packages["llem-core"] and "msgspec" in env.packages
    # It round-trips through JSON as the result file stores it.
    assert msgspec.json.decode(msgspec.json.encode(env), type=Environment) == env


def test_without_nvml_the_snapshot_says_why(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    env = snapshot_environment(None)
    assert env.gpus == [] and env.nvml_error == "pynvml (nvidia-ml-py) is not installed"
    assert gpu_temperatures([0]) == {}


def test_versions_come_from_metadata_without_importing() -> None:
    import sys

    sys.modules.pop("transformers", None)
    versions = installed_versions(("msgspec", "transformers", "surely-not-installed-xyz"))
    assert "surely-not-installed-xyz" not in versions and versions["msgspec"]
    assert "transformers" not in sys.modules


def test_settle_waits_for_a_steady_temperature(replay) -> None:
    replay([synthetic_trace()], start_s=13.7)  # the last idle phase: temperature constant
    settled, waited = settle_temperature([0], delta_c=1.0, timeout_s=30.0)
    assert settled and waited == pytest.approx(5.0, abs=0.6)
    _fake, _clock = replay([synthetic_trace()], start_s=7.0)  # the load starts at 8.6 s: +12 °C
    settled, waited = settle_temperature([0], delta_c=1.0, timeout_s=4.0)
    assert not settled and waited == pytest.approx(4.0, abs=0.6)
    assert gpu_temperatures([0]) == {0: 50.0}
