"""Fixtures replaying recorded NVML traces (see nvml_replay.py for why a fake pynvml is legitimate here)."""

from __future__ import annotations

import sys
import types

import llem.measure.baseline
import llem.measure.counter_period
import llem.measure.energy
import llem.measure.environment
import pytest
from nvml_replay import FakeNvml, Trace, VirtualClock, all_traces

TRACES = all_traces()


@pytest.fixture(params=TRACES, ids=[t.name for t in TRACES])
def trace(request: pytest.FixtureRequest) -> Trace:
    """Every recorded trace in tests/fixtures/nvml, plus the synthetic one with an exact ground truth."""
    return request.param


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch):
    """install(traces, start_s, ...) -> (fake pynvml, virtual clock): NVML answers from the traces, and the
    measure modules' clock is the trace's clock."""

    def install(traces: list[Trace], start_s: float = 0.0, **kwargs) -> tuple[FakeNvml, VirtualClock]:
        clock = VirtualClock(start_s)
        fake = FakeNvml(traces, clock, **kwargs)
        monkeypatch.setitem(sys.modules, "pynvml", fake)
        fake_time = types.SimpleNamespace(
            perf_counter=clock.perf_counter, monotonic=clock.monotonic, sleep=clock.sleep
        )
        for module in (
            llem.measure.energy,
            llem.measure.counter_period,
            llem.measure.baseline,
            llem.measure.environment,
        ):
            monkeypatch.setattr(module, "time", fake_time)
        return fake, clock

    return install


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """The energy meters' clock and sleep, replaced by a virtual clock starting at 0 (no real time passes)."""
    clock = VirtualClock(0.0)
    monkeypatch.setattr(llem.measure.energy, "time", clock)
    return clock
