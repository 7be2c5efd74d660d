"""Replay of recorded NVML traces through a fake `pynvml` module.

CI has no GPU, so NVML cannot run there. This fake serves, at each instant, exactly what a real GPU's NVML
returned at that instant of a recorded trace (tests/fixtures/nvml/*.json, written by
bench/record_nvml_trace.py on
an H100): the energy counter as the step function it is, the (averaged) power reading, temperature, clocks and
throttle reasons. Time is virtual: each counter read advances it by the recorded cost of that call, sleeps
advance
it by their length, so replays are exact and fast. A small synthetic trace with a known true power curve is
built
here too, so every test also runs against an exact ground truth.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nvml"


@dataclass
class Trace:
    name: str
    data: dict[str, Any]
    # Exact cumulative energy (J) at time t, when the trace is synthetic; real traces interpolate the counter.
    exact_energy_j: Any = None
    _updates: tuple[list[float], list[float]] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path) -> Trace:
        return cls(path.stem, json.loads(path.read_text()))

    @property
    def duration_s(self) -> float:
        return self.data["energy"]["t_s"][-1]

    @property
    def period_s(self) -> float:
        return self.data["counter_period_s"]

    @property
    def energy_read_cost_s(self) -> float:
        return self.data["read_cost_s"]["energy"]

    def phase(self, name: str) -> tuple[float, float]:
        p = next(p for p in self.data["phases"] if p["name"] == name)
        return p["t0_s"], p["t1_s"]

    def at(self, series: str, key: str, t: float) -> Any:
        """The value of `series.key` that NVML returned at time t (the last one recorded at or before t)."""
        ts = self.data[series]["t_s"]
        i = max(0, bisect.bisect_right(ts, t) - 1)
        return self.data[series][key][i]

    def counter_mj(self, t: float) -> int:
        return self.at("energy", "mj", t)

    def updates(self) -> tuple[list[float], list[float]]:
        """Times (first observation) and values (J) of each counter update."""
        if self._updates is None:
            ts, vs = self.data["energy"]["t_s"], self.data["energy"]["mj"]
            times, values = [ts[0]], [vs[0] / 1000]
            for t, v in zip(ts[1:], vs[1:], strict=True):
                if v / 1000 != values[-1]:
                    times.append(t)
                    values.append(v / 1000)
            self._updates = (times, values)
        return self._updates

    def true_energy_j(self, a: float, b: float) -> float:
        """Best knowledge of the energy used in [a, b]: exact for the synthetic trace, else the counter's
        update
        points joined linearly (the counter value at an update is the energy up to that update)."""
        if self.exact_energy_j is not None:
            return self.exact_energy_j(b) - self.exact_energy_j(a)
        times, values = self.updates()

        def e(t: float) -> float:
            i = bisect.bisect_right(times, t)
            if i == 0:
                return values[0]
            if i == len(times):
                return values[-1]
            t0, t1, v0, v1 = times[i - 1], times[i], values[i - 1], values[i]
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)

        return e(b) - e(a)

    def integrated_power_j(self, a: float, b: float) -> float:
        """What integrating nvmlDeviceGetPowerUsage samples over [a, b] gives."""
        ts, mw = self.data["power"]["t_s"], self.data["power"]["mw"]
        pts = [(t, w / 1000) for t, w in zip(ts, mw, strict=True) if a <= t <= b]
        return sum((t1 - t0) * w0 for (t0, w0), (t1, _) in itertools.pairwise(pts))


def synthetic_trace(
    *, period_s: float = 0.1, phase_offset_s: float = 0.037, read_cost_s: float = 0.004
) -> Trace:
    """A trace shaped like the recorded ones, from a known power curve: idle 120 W, a 0.6 s burst at 550 W,
    idle,
    5 s at 600 W, idle. The counter publishes the exact integral every `period_s`; the power reading is a 1 s
    moving average of the true power (as on Hopper); sw_power_cap is set during the sustained phase."""
    phases = [
        ("idle", 0.0, 5.0),
        ("burst", 5.0, 5.6),
        ("idle", 5.6, 8.6),
        ("sustained", 8.6, 13.6),
        ("idle", 13.6, 18.6),
    ]
    level = {"idle": 120.0, "burst": 550.0, "sustained": 600.0}
    start_mj = 1_234_567_890  # mJ since driver load: large, like a real counter

    def energy_j(t: float) -> float:  # exact integral of the power curve from 0 to t
        total = 0.0
        for name, t0, t1 in phases:
            if t > t0:
                total += level[name] * (min(t, t1) - t0)
        return total

    def power_w(t: float) -> float:
        return next((level[n] for n, t0, t1 in phases if t0 <= t < t1), level["idle"])

    end = phases[-1][2]
    energy_t, energy_mj = [], []
    t = 0.0
    while t <= end:
        last_update = math.floor((t - phase_offset_s) / period_s) * period_s + phase_offset_s
        energy_t.append(round(t, 6))
        energy_mj.append(start_mj + int(energy_j(max(0.0, last_update)) * 1000))
        t += read_cost_s
    power_t = [round(i * 0.01, 6) for i in range(int(end / 0.01) + 1)]
    power_mw = [
        int(1000 * (energy_j(t) - energy_j(max(0.0, t - 1.0))) / min(1.0, max(t, 0.01))) for t in power_t
    ]
    tele_t = [round(i * 0.1, 6) for i in range(int(end / 0.1) + 1)]
    data = {
        "format": "llem-nvml-trace/1",
        "gpu": {
            "index": 0,
            "name": "Synthetic H100",
            "uuid": "GPU-synthetic-0",
            "driver": "580.00",
            "power_limit_w": 700.0,
            "memory_total_mib": 81559,
        },
        "counter_period_s": period_s,
        "read_cost_s": {"energy": read_cost_s, "power": 0.0001, "temperature": 0.0001},
        "phases": [{"name": n, "t0_s": a, "t1_s": b} for n, a, b in phases],
        "energy": {"t_s": energy_t, "mj": energy_mj},
        "power": {"t_s": power_t, "mw": power_mw},
        "telemetry": {
            "t_s": tele_t,
            "temperature_c": [35 + int(power_w(t) / 40) for t in tele_t],
            "sm_clock_mhz": [1980 if power_w(t) > 200 else 345 for t in tele_t],
            "mem_clock_mhz": [2619 for _ in tele_t],
            "memory_used_mib": [1024.0 for _ in tele_t],
            "throttle_reasons": [0x4 if 8.6 <= t < 13.6 else 0x1 for t in tele_t],
        },
    }
    return Trace("synthetic", data, exact_energy_j=energy_j)


def all_traces() -> list[Trace]:
    """The synthetic trace and every recorded fixture."""
    return [synthetic_trace(), *(Trace.load(p) for p in sorted(FIXTURES.glob("*.json")))]


class VirtualClock:
    """Trace time that moves only when code sleeps or pays for a (fake) NVML call."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def perf_counter(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += max(0.0, dt)

    def advance(self, dt: float) -> None:
        self.t += dt


class NVMLError(Exception):
    pass


class FakeNvml(types.ModuleType):
    """A stand-in for the `pynvml` module serving `traces` (one per GPU) at the clock's time.

    GPU i sees its trace shifted by `offsets[i]` seconds, so two GPUs can replay one trace out of step.
    """

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVMLError = NVMLError

    def __init__(
        self,
        traces: list[Trace],
        clock: Any,
        offsets: list[float] | None = None,
        energy_supported: bool = True,
    ) -> None:
        super().__init__("pynvml")
        self.traces = traces
        self.clock = clock
        self.offsets = offsets or [0.0] * len(traces)
        self.energy_supported = energy_supported
        self.inits = 0
        self.energy_reads = 0

    def _t(self, h: int) -> float:
        return self.clock.perf_counter() + self.offsets[h]

    def _cost(self, h: int, name: str) -> None:
        if isinstance(self.clock, VirtualClock):
            self.clock.advance(self.traces[h].data["read_cost_s"].get(name, 0.0001))

    # lifecycle
    def nvmlInit(self) -> None:
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.inits -= 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.traces)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        if not 0 <= i < len(self.traces):
            raise NVMLError("Invalid Argument")
        return i

    # identity
    def nvmlDeviceGetName(self, h: int) -> str:
        return self.traces[h].data["gpu"]["name"]

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return self.traces[h].data["gpu"]["uuid"]

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.traces[0].data["gpu"]["driver"]

    # counters and sensors
    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        if not self.energy_supported:
            raise NVMLError("Not Supported")
        self.energy_reads += 1
        # The value is sampled in the middle of the call, which costs what it cost on the real GPU.
        half = self.traces[h].energy_read_cost_s / 2
        if isinstance(self.clock, VirtualClock):
            self.clock.advance(half)
            value = self.traces[h].counter_mj(self._t(h))
            self.clock.advance(half)
            return value
        return self.traces[h].counter_mj(self._t(h))

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        self._cost(h, "power")
        return self.traces[h].at("power", "mw", self._t(h))

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return self.traces[h].at("telemetry", "temperature_c", self._t(h))

    def nvmlDeviceGetClockInfo(self, h: int, kind: int) -> int:
        key = "sm_clock_mhz" if kind == self.NVML_CLOCK_SM else "mem_clock_mhz"
        return self.traces[h].at("telemetry", key, self._t(h))

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        used = self.traces[h].at("telemetry", "memory_used_mib", self._t(h))
        total = self.traces[h].data["gpu"].get("memory_total_mib", 81559)
        return types.SimpleNamespace(used=int(used * 2**20), total=total * 2**20, free=(total - used) * 2**20)

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return self.traces[h].at("telemetry", "throttle_reasons", self._t(h))

    nvmlDeviceGetCurrentClocksThrottleReasons = nvmlDeviceGetCurrentClocksEventReasons

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return int(self.traces[h].data["gpu"].get("power_limit_w", 700) * 1000)

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h: int) -> int:
        return self.nvmlDeviceGetEnforcedPowerLimit(h)

    def nvmlDeviceGetPersistenceMode(self, h: int) -> int:
        return 1

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        return (9, 0)

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 13000

    def nvmlDeviceGetMaxClockInfo(self, h: int, kind: int) -> int:
        return 1980

    def nvmlDeviceGetPerformanceState(self, h: int) -> int:
        return 0
