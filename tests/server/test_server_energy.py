"""A serving run's energy: the window's counter difference divided per request, good request and output token.

TEST DOUBLE, clearly: `ConstantPowerMeter` stands in for a GPU energy counter, which cannot exist here (no
GPU): a counter at a known constant power, updated every 50 ms like NVML's (slower) counter. Server and
client are real (the local test server on 127.0.0.1); the point is the core's wiring of the window's energy
into the serving metrics, which a CPU machine can otherwise never show.
"""

import time

import pytest
from llem.config.resolve import load_experiment
from llem.measure.energy import EnergyMeter, EnergyReading
from llem.plugins.manager import get_plugin_manager
from llem.run.lifecycle import run_experiments
from openai_test_server import OpenAITestServer

pytestmark = pytest.mark.timeout(120)

POWER_W = 250.0


class ConstantPowerMeter(EnergyMeter):
    name = "nvml"
    scope = "gpu"
    available = True

    def __init__(self, period_s: float = 0.05) -> None:
        super().__init__()
        self.update_period_s, self.read_cost_s, self.devices = period_s, 0.0, ("fake-gpu-0",)
        self.t0 = time.perf_counter()

    def _joules(self, t: float) -> float:
        return POWER_W * (t - self.t0)

    def read(self) -> EnergyReading:
        t = time.perf_counter()
        last = self.t0 + (t - self.t0) // self.update_period_s * self.update_period_s
        return EnergyReading(t_s=t, joules=(self._joules(last),))

    def read_edge(self) -> EnergyReading:
        now = time.perf_counter()
        nxt = self.t0 + ((now - self.t0) // self.update_period_s + 1) * self.update_period_s
        time.sleep(max(0.0, nxt - now) + 1e-4)
        return EnergyReading(
            t_s=nxt, joules=(self._joules(nxt),), edge_power_w=POWER_W, update_power_w=(POWER_W,)
        )

    def window_end(self, start: EnergyReading, t_end: float) -> EnergyReading:
        return EnergyReading(t_s=t_end, joules=(self._joules(t_end),), edge_power_w=POWER_W)


def test_window_energy_is_divided_per_request_good_request_and_token(tmp_path, monkeypatch):
    meter = ConstantPowerMeter()
    monkeypatch.setattr("llem.run.lifecycle.open_meter", lambda mc, device, gpu_indices=None: meter)
    plugins = get_plugin_manager()
    with OpenAITestServer() as srv:
        config = load_experiment(
            {
                "model": "random:tiny-llama",
                "backend": "server",
                "server": {"url": srv.url},
                "n_prompts": 8,
                "max_input_tokens": 16,
                "max_output_tokens": 6,
                "output_dir": str(tmp_path),
                "measurement": {"baseline": "none", "timeseries": False},
                "load": {"request_rate": 50.0, "warmup_s": 0.3, "duration_s": 1.0, "cooldown_s": 0.1},
                "slo": {"e2e_ms": 60000},
            },
            plugins=plugins,
        )
        (r,) = run_experiments(config, plugins=plugins)
    assert r.status == "ok", r.error
    e, m, sv = r.energy, r.metrics, r.metrics.serving
    assert e.measured and e.window_s == pytest.approx(r.timings.window_s, rel=1e-6)
    assert e.total_j == pytest.approx(POWER_W * r.timings.window_s, rel=1e-6)  # the window only
    assert e.mean_power_w == pytest.approx(POWER_W, rel=1e-6)
    assert sv.n_completed > 0 and sv.n_good == sv.n_completed
    assert sv.energy_per_request_j == pytest.approx(e.total_j / sv.n_completed)
    assert sv.energy_per_good_request_j == pytest.approx(e.total_j / sv.n_good)
    assert m.energy_per_output_token_j == pytest.approx(e.total_j / m.output_tokens)
    assert sv.dynamic_energy_per_request_j is None  # no idle baseline: no dynamic energy, and no zero
