"""The NVML energy meter, replayed against real counter traces recorded on an H100.

There is no GPU in CI: NVML is replaced by a fake pynvml module that serves, at each instant of a virtual
clock,
what the real GPU's NVML returned at that instant of the recording (tests/measure/nvml_replay.py). The traces
are
parametrised: every file in tests/fixtures/nvml plus a synthetic trace with an exact ground truth.
"""

from __future__ import annotations

import pytest
from llem.config.measurement import MeasurementConfig
from llem.errors import ConfigError
from llem.measure.counter_period import measure_update_period
from llem.measure.energy import (
    EnergyNotMeasured,
    NoneMeter,
    energy_bound_j,
    window_energy,
)
from llem.measure.meters import open_meter
from llem.measure.nvml_meter import NvmlMeter
from llem.plugins.types import DeviceInfo, GpuInfo
from nvml_replay import Trace, synthetic_trace

H100 = DeviceInfo(gpus=(GpuInfo(index=0, name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0)),))


def measure_window(meter: NvmlMeter, clock, a: float, b: float, *, edge: bool = True):
    """Read the meter at trace times a and b as the run engine does (read_edge at both edges)."""
    clock.t = max(clock.t, a)
    start = meter.read_edge() if edge else meter.read()
    clock.t = max(clock.t, b)
    end = meter.read_edge() if edge else meter.read()
    return start, end


def test_update_period_is_recovered(trace: Trace, replay) -> None:
    fake, _clock = replay([trace], start_s=1.0)
    period = measure_update_period(fake.nvmlDeviceGetHandleByIndex(0))
    assert period == pytest.approx(trace.period_s, rel=0.1)


def test_meter_reports_what_it_measures(trace: Trace, replay) -> None:
    replay([trace], start_s=1.0)
    meter = open_meter(MeasurementConfig(), H100)
    assert (meter.name, meter.scope, meter.available, meter.reason) == ("nvml", "gpu", True, None)
    assert meter.devices == (f"GPU 0 {trace.data['gpu']['name']}",)
    assert meter.update_period_s == pytest.approx(trace.period_s, rel=0.1)
    assert meter.read_cost_s == pytest.approx(trace.energy_read_cost_s, rel=0.01)
    assert meter.describe().startswith("energy: measured with nvml on 1 GPU")


@pytest.mark.parametrize("phase", ["idle", "burst", "sustained"])
def test_window_energy_is_the_counter_difference_and_the_bound_covers_the_truth(trace, replay, phase) -> None:
    _fake, clock = replay([trace], start_s=0.5)
    meter = NvmlMeter([0])
    a, b = trace.phase(phase)
    start, end = measure_window(meter, clock, a, b)
    w = window_energy(meter, start, end)
    # Energy is the raw counter difference (mJ -> J), nothing integrated or smoothed. An edge's time is the
    # estimated moment of the update it waited for, a little before the read that saw it: one read later the
    # counter shows the edge's value.
    after = trace.energy_read_cost_s
    raw = (trace.counter_mj(end.t_s + after) - trace.counter_mj(start.t_s + after)) / 1000
    assert w.energy_j == pytest.approx(raw, abs=1e-9)
    truth = trace.true_energy_j(start.t_s, end.t_s)
    assert abs(w.energy_j - truth) <= w.bound_j, (w.energy_j, truth, w.bound_j)
    # The bound is a bound, not a shrug: a few percent of the window at most for windows of several periods.
    if w.duration_s >= 5 * trace.period_s:
        assert w.bound_j < 0.5 * w.energy_j


def test_plain_reads_in_steady_power_stay_within_the_bound(trace: Trace, replay) -> None:
    _fake, clock = replay([trace], start_s=0.5)
    meter = NvmlMeter([0])
    a, _b = trace.phase("sustained")
    for k, offset in enumerate((0.013, 0.051, 0.087)):  # edges anywhere between two counter updates
        t0 = a + 0.2 + 1.5 * k + offset
        start, end = measure_window(meter, clock, t0, t0 + 1.2, edge=False)
        w = window_energy(meter, start, end)
        assert w.bound_j is not None
        assert abs(w.energy_j - trace.true_energy_j(start.t_s, end.t_s)) <= w.bound_j


def test_unaligned_window_under_two_periods_has_no_bound(replay) -> None:
    trace = synthetic_trace()
    _fake, _clock = replay([trace], start_s=9.0)
    meter = NvmlMeter([0])
    start = meter.read()
    end = meter.read()  # one read later: usually the same counter value, i.e. 0 J for real work
    w = window_energy(meter, start, end)
    assert w.short and w.bound_j is None  # "0 J ± 0 J" would be a lie


def test_read_edge_aligns_to_a_counter_update(trace: Trace, replay) -> None:
    _fake, _clock = replay([trace], start_s=2.0)
    meter = NvmlMeter([0])
    reading = meter.read_edge()
    times, _ = trace.updates()
    nearest = min(times, key=lambda t: abs(t - reading.t_s))
    # The reading's time is the update's (to about one read), not up to a whole period after it.
    assert abs(reading.t_s - nearest) <= 2 * trace.energy_read_cost_s
    assert reading.edge_power_w is not None and reading.edge_power_w > 0


def test_counter_beats_integrated_power_on_a_short_burst(replay) -> None:
    trace = synthetic_trace()  # its power reading is a 1 s moving average, like Hopper's
    _fake, clock = replay([trace], start_s=0.5)
    meter = NvmlMeter([0])
    a, b = trace.phase("burst")
    start, end = measure_window(meter, clock, a, b)
    w = window_energy(meter, start, end)
    truth = trace.true_energy_j(start.t_s, end.t_s)
    integrated = trace.integrated_power_j(start.t_s, end.t_s)
    assert abs(w.energy_j - truth) / truth < 0.05
    assert (
        integrated < 0.8 * truth
    )  # the averaged power under-counts the burst by far more than the counter's error


def test_short_windows_are_flagged(trace: Trace, replay) -> None:
    _fake, clock = replay([trace], start_s=0.5)
    meter = NvmlMeter([0])
    a, b = trace.phase("burst")  # ~0.6 s: about 6 counter periods
    short = window_energy(meter, *measure_window(meter, clock, a, b), min_window_periods=10)
    a, b = trace.phase("sustained")  # 5 s: about 50 periods
    long = window_energy(meter, *measure_window(meter, clock, a, b), min_window_periods=10)
    assert short.short and short.periods is not None and short.periods < 10
    assert not long.short and long.periods is not None and long.periods > 10
    assert short.bound_j / short.energy_j > long.bound_j / long.energy_j


def test_two_gpus_are_summed_per_device(trace: Trace, replay) -> None:
    _fake, clock = replay([trace, trace], start_s=0.5, offsets=[0.0, 0.043])  # counters out of step
    meter = open_meter(
        MeasurementConfig(),
        DeviceInfo(gpus=(H100.gpus[0], GpuInfo(index=1, name="x", compute_capability=(9, 0)))),
    )
    assert len(meter.devices) == 2
    a, b = trace.phase("sustained")
    start, end = measure_window(meter, clock, a, b)
    w = window_energy(meter, start, end)
    assert len(w.per_device_j) == 2
    assert w.energy_j == pytest.approx(sum(w.per_device_j))
    truth = trace.true_energy_j(start.t_s, end.t_s) + trace.true_energy_j(start.t_s + 0.043, end.t_s + 0.043)
    assert abs(w.energy_j - truth) <= w.bound_j


def test_counter_reset_is_survived_and_noted(replay) -> None:
    trace = synthetic_trace()
    fake, clock = replay([trace], start_s=0.5)
    meter = NvmlMeter([0])
    r0 = meter.read()
    clock.t += 1.0
    real_get = fake.nvmlDeviceGetTotalEnergyConsumption
    fake.nvmlDeviceGetTotalEnergyConsumption = lambda h: real_get(h) - 1_000_000_000  # the driver reloaded
    r1 = meter.read()
    clock.t += 1.0
    r2 = meter.read()
    assert r1.total_j >= r0.total_j  # never negative energy
    assert r2.total_j - r1.total_j == pytest.approx(trace.true_energy_j(r1.t_s, r2.t_s), abs=0.2 * 120)
    assert any("went backwards" in note for note in meter.notes)


def test_gpu_without_energy_counter(replay) -> None:
    replay([synthetic_trace()], energy_supported=False)
    meter = open_meter(MeasurementConfig(), H100)
    # auto falls through to RAPL (absent here) and then says why nothing is measured.
    assert meter.name == "none" and not meter.available
    assert "no readable energy counter" in meter.reason and "RAPL" in meter.reason
    with pytest.raises(ConfigError, match=r"energy_sampler.*nvml"):
        open_meter(MeasurementConfig(energy_sampler="nvml"), H100)


def test_unknown_gpu_index_is_a_user_error(replay) -> None:
    replay([synthetic_trace()])
    with pytest.raises(ConfigError, match=r"gpu_indices: GPU 3 does not exist"):
        open_meter(MeasurementConfig(gpu_indices=[3]), H100)


def test_none_meter_says_why_and_never_returns_zero(monkeypatch) -> None:
    monkeypatch.setattr(
        "llem.measure.rapl.POWERCAP_ROOT", __import__("pathlib").Path("/nonexistent/powercap")
    )
    meter = open_meter(MeasurementConfig(), DeviceInfo())
    assert (meter.name, meter.available, meter.scope) == ("none", False, None)
    assert meter.reason == (
        "no NVIDIA GPU and no readable RAPL counter: /nonexistent/powercap has no intel-rapl package domains"
    )
    assert meter.describe() == f"energy: NOT measured ({meter.reason})"
    with pytest.raises(EnergyNotMeasured, match="no NVIDIA GPU"):
        meter.read()
    with pytest.raises(EnergyNotMeasured):
        meter.read_edge()
    chosen = open_meter(MeasurementConfig(energy_sampler="none"), H100)
    assert isinstance(chosen, NoneMeter) and "energy_sampler is 'none'" in chosen.reason


def test_energy_bound_is_two_periods_of_power() -> None:
    meter = NoneMeter("test")
    meter.update_period_s, meter.read_cost_s = 0.1, 0.004
    assert energy_bound_j(meter, 500.0) == pytest.approx(2 * 0.104 * 500.0)
    # A window ending in a burst: the end edge counts at the burst's power, not the window's mean.
    assert energy_bound_j(meter, 200.0, edge_powers_w=(120.0, 600.0)) == pytest.approx(0.104 * (200 + 600))


def test_end_edge_is_exact_for_the_span_it_reports(replay) -> None:
    """A window ending at the drop from 600 W to idle: the end edge is the next counter update, its time is
    that update's, and the energy is exact for [start edge, end edge] (the short idle tail included, and said
    so by the time), where a plain read would miss the end of the workload."""
    trace = synthetic_trace()
    _fake, clock = replay([trace], start_s=8.7)
    meter = NvmlMeter([0])
    start = meter.read_edge()
    clock.t = max(clock.t, 13.6)  # the sustained phase (600 W) ends here; idle (120 W) follows
    plain = meter.read()
    end = meter.read_edge()
    assert 13.6 <= end.t_s <= 13.6 + trace.period_s + 2 * trace.energy_read_cost_s
    edge_error = window_energy(meter, start, end).energy_j - trace.true_energy_j(start.t_s, end.t_s)
    plain_error = window_energy(meter, start, plain).energy_j - trace.true_energy_j(start.t_s, plain.t_s)
    assert abs(edge_error) < 1.5  # J: the update's time is known to about one read
    assert plain_error < -10  # J: the stale value misses the last ~63 ms at 600 W
