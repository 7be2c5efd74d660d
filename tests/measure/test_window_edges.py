"""Window edges against a fake energy counter that publishes every 100 ms, on a fake clock.

TEST DOUBLE, clearly: no GPU counter exists in CI. `TickingCounter` integrates a known power profile and
publishes the integral only at its update moments (every 100 ms, like NVML on Hopper); each read costs 3 ms of
the fake clock. The true energy of any span is then known exactly, so the edge methods are checked against it.
No real time passes: the `clock` fixture (conftest) replaces the meter module's clock and sleep.
"""

from __future__ import annotations

import pytest
from llem.measure.energy import CounterMeter, at_time, window_energy
from nvml_replay import VirtualClock


class TickingCounter(CounterMeter):
    name = "nvml"
    scope = "gpu"

    def __init__(
        self, clock: VirtualClock, power, *, period_s=0.1, phase_s=0.0, read_cost_s=0.003, stuck=False
    ):
        super().__init__()
        self.clock, self.power = clock, power
        self.period, self.phase, self.cost, self.stuck = period_s, phase_s, read_cost_s, stuck
        self.available = True
        self.update_period_s = period_s
        self.read_cost_s = read_cost_s
        self.devices = ("fake-gpu",)
        self._joules_per_unit = 1e-3

    def true_j(self, t: float) -> float:
        # numeric integral of the power profile from 0 (1 ms steps are exact for piecewise-constant profiles)
        steps = round(t * 1000)
        return sum(self.power(k / 1000 + 0.0005) for k in range(steps)) / 1000

    def _read_raw(self) -> list[int]:
        self.clock.sleep(self.cost / 2)
        t = self.clock.t
        self.clock.sleep(self.cost / 2)
        if self.stuck:
            return [123]
        last = int((t - self.phase) / self.period) * self.period + self.phase
        return [round(self.true_j(last) * 1000)]


def _step_load(start: float, end: float, busy_w=500.0, idle_w=100.0, tail_w=250.0, tail_s=0.08):
    """Idle, then a busy span, then a decaying tail (the GPU does not drop to idle at once), then idle."""

    def power(t: float) -> float:
        if start <= t < end:
            return busy_w
        if end <= t < end + tail_s:
            return tail_w
        return idle_w

    return power


@pytest.mark.parametrize("phase", [0.0, 0.013, 0.037, 0.051, 0.079, 0.093])
@pytest.mark.parametrize("length_s", [1.0, 5.0])
def test_interpolated_edges_match_the_true_energy_of_the_workload(clock, phase, length_s):
    clock.t = 2.0
    meter = TickingCounter(clock, lambda t: 100.0, phase_s=phase)  # placeholder: replaced once t0 is known
    edge = meter.read_edge()
    t0 = clock.t
    meter.power = _step_load(t0, t0 + length_s)
    start = at_time(edge, t0)
    clock.t = t0 + length_s  # the workload
    end = meter.window_end(start, clock.t)
    we = window_energy(meter, start, end)
    truth = meter.true_j(t0 + length_s) - meter.true_j(t0)
    assert we.duration_s == pytest.approx(length_s)
    assert abs(we.energy_j - truth) / truth < 0.002, (we.energy_j, truth)
    assert abs(we.energy_j - truth) <= we.bound_j


@pytest.mark.parametrize("phase", [0.013, 0.051, 0.079])
def test_waiting_for_the_next_update_at_the_end_would_count_the_tail(clock, phase):
    # the method window_end replaces: read_edge at the end includes up to one period of what follows the work
    clock.t = 2.0
    meter = TickingCounter(clock, lambda t: 100.0, phase_s=phase)
    edge = meter.read_edge()
    t0 = clock.t
    meter.power = _step_load(t0, t0 + 1.0)
    clock.t = t0 + 1.0
    interpolated = window_energy(meter, at_time(edge, t0), meter.window_end(at_time(edge, t0), t0 + 1.0))
    clock.t = t0 + 1.0  # the same end, read the old way
    aligned = meter.read_edge()
    truth = meter.true_j(t0 + 1.0) - meter.true_j(t0)
    tail_j = aligned.total_j - at_time(edge, t0).total_j - truth
    assert tail_j > 0.005 * truth  # the old end edge reads high by the tail
    assert abs(interpolated.energy_j - truth) < tail_j / 5


def test_start_edge_moves_to_the_workload_start_at_the_idle_power(clock):
    clock.t = 2.0
    meter = TickingCounter(clock, lambda t: 100.0, phase_s=0.02)
    edge = meter.read_edge()
    assert edge.update_power_w == (pytest.approx(100.0, rel=0.01),)
    later = at_time(edge, edge.t_s + 0.004)
    assert later.total_j - edge.total_j == pytest.approx(0.4, rel=0.01)  # 4 ms at 100 W


def test_a_counter_that_never_updates_gives_an_unaligned_edge_and_says_so(clock):
    meter = TickingCounter(clock, lambda t: 100.0, stuck=True)
    start = meter.read_edge(timeout_s=0.5)
    assert start.update_power_w is None and start.edge_power_w is None
    clock.t += 1.0
    t_end = clock.t
    end = meter.window_end(start, t_end, timeout_s=0.5)
    assert end.t_s == t_end  # stamped at the workload's end, not when the wait gave up
    assert sum(1 for n in meter.notes if "did not update" in n) == 2
    we = window_energy(meter, start, end)
    assert we.energy_j == 0.0 and we.bound_j is not None  # the bound, not a silent exact zero, carries it
