"""Several GPUs: which counters are summed, one window for all of them, and per-device accounting.

TEST DOUBLES, clearly: no GPU exists in CI. `TwoGpuCounter` is a fake energy counter for two devices, each
integrating its own known power and publishing every 100 ms at its own phase, on a fake clock; the run's
GPU usage (NVML's compute processes) is given as a fixed answer where a test needs one. The process tree
is read from the real /proc.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from llem.measure.energy import CounterMeter, at_time, device_bounds_j, window_energy
from llem.measure.usage import place, process_tree
from nvml_replay import VirtualClock


class TwoGpuCounter(CounterMeter):
    name = "nvml"
    scope = "gpu"

    def __init__(self, clock: VirtualClock, powers_w=(300.0, 100.0), phases_s=(0.0, 0.041)) -> None:
        super().__init__()
        self.clock, self.powers, self.phases = clock, list(powers_w), list(phases_s)
        self.available = True
        self.update_period_s = 0.1
        self.read_cost_s = 0.003
        self.devices = ("GPU 0", "GPU 1")
        self._joules_per_unit = 1e-3
        self.kept = [0, 1]

    def _keep_raw(self, positions: list[int]) -> None:
        self.kept = [self.kept[i] for i in positions]

    def _read_raw(self) -> list[int]:
        self.clock.sleep(0.0015)
        t = self.clock.t
        self.clock.sleep(0.0015)
        out = []
        for g in self.kept:
            last = int((t - self.phases[g]) / 0.1) * 0.1 + self.phases[g]
            out.append(round(self.powers[g] * last * 1000))
        return out


def test_one_window_covers_both_gpus_and_the_total_is_their_sum(clock):
    clock.t = 5.0
    meter = TwoGpuCounter(clock)
    edge = meter.read_edge()  # one start edge for both devices: it waits for each counter's own update
    t0 = clock.t
    start = at_time(edge, t0)
    clock.t = t0 + 2.0
    end = meter.window_end(start, clock.t)
    we = window_energy(meter, start, end)
    assert we.per_device_j == (pytest.approx(600.0, rel=2e-3), pytest.approx(200.0, rel=2e-3))
    assert we.energy_j == pytest.approx(sum(we.per_device_j))
    assert we.duration_s == pytest.approx(2.0)  # the same span for every device
    bounds = device_bounds_j(meter, start, end)
    # each device's bound: (period + read) × its own power at both edges
    assert bounds == [pytest.approx(2 * 0.103 * 300.0, rel=0.02), pytest.approx(2 * 0.103 * 100.0, rel=0.02)]


def test_keeping_one_gpu_drops_the_other_from_every_later_reading(clock):
    clock.t = 5.0
    meter = TwoGpuCounter(clock)
    meter.read()  # the meter has started accumulating both
    meter.keep([1])
    assert meter.devices == ("GPU 1",)
    edge = meter.read_edge()
    start = at_time(edge, clock.t)
    clock.t += 1.0
    we = window_energy(meter, start, meter.window_end(start, clock.t))
    assert we.per_device_j == (pytest.approx(100.0, rel=5e-3),)


def test_unused_visible_gpus_are_not_counted_and_used_unnamed_ones_are_loud():
    # default (no gpu_indices): the run uses GPU 0 of two visible ones
    p = place([0, 1], {0}, named=False)
    assert p.measure == [0] and "unused GPU 1 not counted" in p.notes[0]
    # the config named GPU 0 only, but the run also uses GPU 1 (e.g. device_map: auto over both)
    p = place([0], {0, 1}, named=True)
    assert p.measure == [0] and p.notes[0].startswith("WARNING: the run uses GPU 1")
    # named but idle: kept (the user asked), and said
    p = place([0, 1], {1}, named=True)
    assert p.measure == [0, 1] and "GPU 0 is measured" in p.notes[0]
    # usage unknown (NVML cannot say): nothing changes, nothing claimed
    assert place([0, 1], None, named=False) == place([0, 1], None, named=True)
    assert place([0, 1], None, named=False).measure == [0, 1]
    # both used: both counted, no note
    assert place([0, 1], {0, 1}, named=False).notes == []


def test_the_process_tree_includes_worker_processes():
    child = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', 'input()'])"],
        stdin=subprocess.PIPE,
    )
    try:
        import os
        import time

        deadline = time.monotonic() + 60
        while True:
            tree = process_tree(os.getpid())
            if child.pid in tree and len(tree) >= 3:  # this process, the child and the grandchild
                break
            assert time.monotonic() < deadline, tree
            time.sleep(0.05)
    finally:
        child.communicate(b"\n", timeout=60)
    assert os.getpid() in tree


def test_every_point_of_a_serving_sweep_shares_one_placement(clock, monkeypatch):
    # one loaded backend, several request rates: the meter is restricted once, every state learns the result
    from types import SimpleNamespace

    from llem.run.lifecycle import _measure_used_gpus

    monkeypatch.setattr("llem.run.lifecycle.gpus_in_use", lambda pids: {1})
    meter = TwoGpuCounter(clock)
    unnamed = SimpleNamespace(measurement=SimpleNamespace(gpu_indices=None))
    states = [SimpleNamespace(gpu_indices=[0, 1], meter=meter, config=unnamed, notes=[]) for _ in range(3)]
    _measure_used_gpus(states)
    assert meter.devices == ("GPU 1",)
    assert all(s.gpu_indices == [1] for s in states)
    assert all(any("unused GPU 0 not counted" in n for n in s.notes) for s in states)
