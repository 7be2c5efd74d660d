"""`llem.measure()` around real GPU work: run on a lent GPU machine; skipped (with the reason) elsewhere."""

from __future__ import annotations

import time

import pytest
from llem.measure.devices import detect_devices

pytestmark = pytest.mark.gpu

if not detect_devices().has_gpu:
    pytest.skip("no NVIDIA GPU visible through NVML: real-counter tests run on GPU machines only",
                allow_module_level=True)  # fmt: skip
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("torch has no CUDA here", allow_module_level=True)


def test_measure_brackets_matmuls_with_a_plausible_energy_and_bound():
    import llem

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    with llem.measure(gpus=[0]) as m:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 3.0:
            a @ a
        torch.cuda.synchronize()
    assert m.meter == "nvml" and m.reason is None and not m.short
    assert 3.0 <= m.duration_s < 3.5  # each edge waits at most one counter period past the block
    power_w = m.energy_j / m.duration_s
    assert 50 < power_w < 1200, power_w  # a busy data-centre GPU, whatever its model
    assert 0 < m.bound_j < 0.1 * m.energy_j
