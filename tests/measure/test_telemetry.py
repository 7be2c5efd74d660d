"""The background telemetry sampler, on a fake pynvml replaying recorded traces in real time, sped up.

No GPU in CI: the fake (nvml_replay.FakeNvml) answers what the recorded GPU answered at the same (scaled)
instant.
The sampler runs its real thread against it.
"""

from __future__ import annotations

import sys
import time

from llem.measure.telemetry import (
    TelemetrySampler,
    decode_throttle_reasons,
    throttle_events,
)
from nvml_replay import FakeNvml, Trace

SPEED = 20.0  # trace seconds per real second


class ScaledClock:
    """Trace time running SPEED times faster than real time from `start_s`."""

    def __init__(self, start_s: float) -> None:
        self.t0 = time.perf_counter()
        self.start_s = start_s

    def perf_counter(self) -> float:
        return self.start_s + (time.perf_counter() - self.t0) * SPEED


def test_sampler_records_the_trace_at_its_rate(trace: Trace, monkeypatch) -> None:
    a, b = trace.phase("sustained")
    clock = ScaledClock(a - 2.0)
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([trace], clock))
    interval_s = 0.02
    sampler = TelemetrySampler([0], interval_s=interval_s).start()
    time.sleep((b - a + 3.0) / SPEED)
    samples = sampler.stop()
    span = samples[-1].t_s - samples[0].t_s
    # About one sample per interval (a loaded 2-core CI box may skip a few ticks, never burst).
    assert 0.5 * span / interval_s <= len(samples) <= span / interval_s + 2
    assert all(s.gpu == 0 and s.power_w is not None and s.temperature_c is not None for s in samples)
    assert all(s.sm_clock_mhz and s.mem_clock_mhz and s.memory_used_mib for s in samples)
    assert all(s.energy_mj is None for s in samples)  # the 4 ms counter read is off unless asked for
    assert [s.t_s for s in samples] == sorted(s.t_s for s in samples)
    # The load shows up in the power reading (averaged as it is): the sustained phase draws more than idle.
    assert max(s.power_w for s in samples) > 1.5 * samples[0].power_w
    assert sampler.ticks == len(samples) and 0 < sampler.overhead < 1
    assert sampler.error is None


def test_sampler_can_record_the_energy_counter(monkeypatch) -> None:
    from nvml_replay import synthetic_trace

    trace = synthetic_trace()
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([trace, trace], ScaledClock(9.0)))
    sampler = TelemetrySampler([0, 1], interval_s=0.02, energy=True).start()
    time.sleep(0.1)
    samples = sampler.stop()
    assert {s.gpu for s in samples} == {0, 1}
    energies = [s.energy_mj for s in samples if s.gpu == 0]
    assert all(e is not None for e in energies) and energies[-1] > energies[0]


def test_sampler_survives_an_unsupported_field(monkeypatch) -> None:
    from nvml_replay import NVMLError, synthetic_trace

    fake = FakeNvml([synthetic_trace()], ScaledClock(1.0))
    calls = []

    def unsupported(h):
        calls.append(h)
        raise NVMLError("Not Supported")

    fake.nvmlDeviceGetCurrentClocksEventReasons = unsupported
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    sampler = TelemetrySampler([0], interval_s=0.01).start()
    time.sleep(0.08)
    samples = sampler.stop()
    assert len(samples) >= 3
    assert all(s.throttle_reasons is None and s.power_w is not None for s in samples)
    assert len(calls) == 1  # not asked again once NVML said it is not supported


def test_throttle_reasons_are_decoded_by_name() -> None:
    assert decode_throttle_reasons(0) == []
    assert decode_throttle_reasons(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert decode_throttle_reasons(0x1 | 0x2000) == ["gpu_idle", "unknown_0x2000"]


def test_throttle_events_name_gpu_reason_and_share(monkeypatch) -> None:
    from nvml_replay import synthetic_trace

    trace = synthetic_trace()  # sw_power_cap during the sustained phase, gpu_idle otherwise
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([trace], ScaledClock(7.0)))
    sampler = TelemetrySampler([0], interval_s=0.02).start()
    time.sleep(4.0 / SPEED)
    samples = sampler.stop()
    events = throttle_events(samples)
    assert len(events) == 1 and events[0].startswith("GPU 0 sw_power_cap: ")
    capped = sum(1 for s in samples if s.throttle_reasons == 0x4)
    assert events[0] == f"GPU 0 sw_power_cap: {capped} of {len(samples)} samples"
    assert any(e.startswith("GPU 0 gpu_idle") for e in throttle_events(samples, include_benign=True))


def test_stop_returns_promptly(monkeypatch) -> None:
    from nvml_replay import synthetic_trace

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([synthetic_trace()], ScaledClock(1.0)))
    sampler = TelemetrySampler([0], interval_s=10.0).start()
    time.sleep(0.02)
    t0 = time.perf_counter()
    sampler.stop()
    assert time.perf_counter() - t0 < 0.5  # does not wait out a long interval
