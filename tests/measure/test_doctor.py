"""`llem doctor`: the verdict line a user reads first, on a CPU machine and (replayed) on an H100."""

from __future__ import annotations

from click.testing import CliRunner
from llem.cli.doctor import doctor
from nvml_replay import synthetic_trace


def test_doctor_on_this_cpu_machine_says_energy_is_not_measured(llem_cli) -> None:
    result = llem_cli("doctor", env={"LLEM_FORCE_NO_GPU": "1"})
    assert result.exit_code == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("energy: NOT measured (no NVIDIA GPU and ")
    assert "RAPL" in result.stdout
    assert "backend" in result.stdout or "backends: none installed" in result.stdout


def test_doctor_with_a_gpu_reports_counter_period_and_verdict(replay, monkeypatch) -> None:
    # No GPU in CI: NVML is the replay fake serving a trace shaped like the H100 recordings.
    monkeypatch.setattr("llem.measure.rapl.POWERCAP_ROOT", __import__("pathlib").Path("/nonexistent"))
    replay([synthetic_trace()], start_s=1.0)
    result = CliRunner().invoke(doctor, [])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("energy: measured with nvml on 1 GPU, counter period 10")
    assert lines[-1].endswith("(GPU 0 Synthetic H100)")
    gpu_row = next(line for line in lines if line.startswith("0 "))
    assert "Synthetic H100" in gpu_row and "700 W" in gpu_row and "yes" in gpu_row and " ms" in gpu_row
    assert "energy counter read (all GPUs): 4.0 ms" in result.output
    assert "RAPL: no readable RAPL counter" in result.output
