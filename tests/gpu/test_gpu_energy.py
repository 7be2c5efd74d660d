"""Energy on a real NVIDIA GPU: run by bench/gpu_check.sh on the lent H100; skipped (with the
reason) elsewhere."""

from __future__ import annotations

import time

import pytest
from llem.measure.devices import detect_devices

pytestmark = pytest.mark.gpu

DEVICE = detect_devices()
if not DEVICE.has_gpu:
    pytest.skip("no NVIDIA GPU visible through NVML: real-counter tests run on GPU machines only",
                allow_module_level=True)  # fmt: skip
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("torch has no CUDA here", allow_module_level=True)


def _matmul_load(seconds: float) -> None:
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()


def test_counter_window_under_load_is_plausible_and_bounded():
    from llem.config.measurement import MeasurementConfig
    from llem.measure.energy import window_energy
    from llem.measure.meters import open_meter

    meter = open_meter(MeasurementConfig(energy_sampler="nvml"), DEVICE, [0])
    assert meter.available, meter.reason
    assert 0.02 <= meter.update_period_s <= 0.5
    _matmul_load(0.5)  # wake the GPU up
    start = meter.read_edge()
    _matmul_load(3.0)
    end = meter.read_edge()
    w = window_energy(meter, start, end)
    limit_w = 1000.0
    assert 150.0 < w.mean_power_w < limit_w, w
    assert 0 < w.bound_j < 0.2 * w.energy_j
    assert not w.short
    meter.close()


def test_idle_window_draws_less_than_load():
    from llem.config.measurement import MeasurementConfig
    from llem.measure.energy import window_energy
    from llem.measure.meters import open_meter

    meter = open_meter(MeasurementConfig(energy_sampler="nvml"), DEVICE, [0])
    torch.cuda.synchronize()
    start = meter.read_edge()
    time.sleep(2.0)
    idle = window_energy(meter, start, meter.read_edge())
    start = meter.read_edge()
    _matmul_load(2.0)
    busy = window_energy(meter, start, meter.read_edge())
    assert idle.mean_power_w < 0.6 * busy.mean_power_w, (idle, busy)
    meter.close()


@pytest.mark.slow
def test_run_experiment_measures_energy_on_the_gpu(tmp_path):
    from llem.results import load_result
    from llem.run import run_experiment
    from llem.run.api import load_config

    cfg = load_config(
        {
            "model": "random:tiny-llama",
            "backend": "pytorch",
            "precision": "bf16",
            "n_prompts": 16,
            "max_input_tokens": 32,
            "max_output_tokens": 64,
            "measurement": {"baseline": "fresh", "baseline_duration_s": 2.0, "allow_short_window": True},
            "pytorch": {"batch_size": 4},
        }
    )
    result = run_experiment(cfg, output_dir=tmp_path)
    assert result.status == "ok", result.error
    e = result.energy
    assert e.measured and e.sampler == "nvml" and e.total_j > 0 and e.total_j_bound > 0
    assert e.idle_power_w and 20 < e.idle_power_w < 400
    assert e.dynamic_j is not None
    assert result.metrics.energy_per_output_token_j > 0
    assert result.metrics.output_tokens == 16 * 64
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 1
    assert load_result(folders[0]).energy.total_j == e.total_j
