"""Background sampler of GPU power, temperature, clocks, memory and throttle reasons, for the timeseries only.

Energy never comes from these samples (see energy.py). The sampler's thread spends its time inside NVML calls,
which ctypes makes without the GIL, and appends one small Struct per GPU per tick: it does not slow the
workload.
`cost_s` and `overhead` report what it actually cost.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from llem.measure.nvml import nvml_init, nvml_shutdown

# NVML clocks-event (throttle) reason bits, named as nvml.h names them (nvmlClocksEventReason*).
THROTTLE_REASONS: dict[int, str] = {
    0x001: "gpu_idle",
    0x002: "applications_clocks_setting",
    0x004: "sw_power_cap",
    0x008: "hw_slowdown",
    0x010: "sync_boost",
    0x020: "sw_thermal_slowdown",
    0x040: "hw_thermal_slowdown",
    0x080: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
# Reasons that describe a choice or an idle GPU rather than a slowdown of the work.
BENIGN_REASONS = frozenset({"gpu_idle", "applications_clocks_setting", "display_clock_setting"})


class TelemetrySample(msgspec.Struct, kw_only=True, gc=False):
    """One GPU at one instant. Fields the GPU does not report are None."""

    t_s: Annotated[float, Meta(description="time.perf_counter() when the sample was taken.")]
    gpu: Annotated[int, Meta(description="NVML index of the GPU.")]
    power_w: Annotated[
        float | None, Meta(description="nvmlDeviceGetPowerUsage (on Hopper a ~1 s average).")
    ] = None
    temperature_c: float | None = None
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    memory_used_mib: float | None = None
    throttle_reasons: Annotated[
        int | None, Meta(description="Clocks-event reason bitmask (see THROTTLE_REASONS).")
    ] = None
    utilization_pct: Annotated[
        int | None, Meta(description="nvmlDeviceGetUtilizationRates .gpu: share of time a kernel ran (%).")
    ] = None
    energy_mj: Annotated[
        int | None, Meta(description="Energy counter (mJ), only when asked for: it costs ~4 ms.")
    ] = None


def decode_throttle_reasons(mask: int) -> list[str]:
    """Names of the bits set in a clocks-event reason mask; unknown bits as hex."""
    names = [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
    unknown = mask & ~sum(THROTTLE_REASONS)
    if unknown:
        names.append(f"unknown_0x{unknown:x}")
    return names


def throttle_events(samples: Iterable[TelemetrySample], *, include_benign: bool = False) -> list[str]:
    """Slowdowns seen in the samples, one line per GPU and reason ('GPU 0 sw_power_cap: 12 of 50 samples')."""
    totals: Counter[int] = Counter()
    seen: Counter[tuple[int, str]] = Counter()
    first: dict[tuple[int, str], float] = {}
    for s in samples:
        totals[s.gpu] += 1
        if not s.throttle_reasons:
            continue
        for name in decode_throttle_reasons(s.throttle_reasons):
            if include_benign or name not in BENIGN_REASONS:
                seen[(s.gpu, name)] += 1
                first.setdefault((s.gpu, name), s.t_s)
    return [
        f"GPU {gpu} {name}: {n} of {totals[gpu]} samples"
        for (gpu, name), n in sorted(seen.items(), key=lambda kv: (kv[0][0], first[kv[0]]))
    ]


class TelemetrySampler:
    """Samples the given GPUs every `interval_s` seconds in a daemon thread between start() and stop()."""

    def __init__(self, gpu_indices: list[int], interval_s: float = 0.1, *, energy: bool = False) -> None:
        self.gpu_indices = list(gpu_indices)
        self.interval_s = interval_s
        self.energy = energy
        self.samples: list[TelemetrySample] = []
        self.cost_s = 0.0  # time spent sampling (NVML calls included), summed over ticks
        self.ticks = 0
        self.late_ticks = 0  # ticks that started after the next one was due (the sampler fell behind)
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_s = 0.0
        self._stopped_s = 0.0
        self._nv: Any = None
        self._handles: list[Any] = []
        self._unsupported: set[tuple[int, str]] = set()

    def start(self) -> TelemetrySampler:
        """Open NVML and start sampling. Raises NvmlUnavailable when NVML cannot be used."""
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._nv = nvml_init()
        self._handles = [self._nv.nvmlDeviceGetHandleByIndex(i) for i in self.gpu_indices]
        self._started_s = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="llem-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[TelemetrySample]:
        """Stop sampling and return every sample, in time order."""
        if self._thread is None:
            return self.samples
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._stopped_s = time.perf_counter()
        nvml_shutdown(self._nv)
        return self.samples

    @property
    def overhead(self) -> float:
        """Fraction of the sampling span spent sampling (an upper bound on what it took from a core)."""
        span = (self._stopped_s or time.perf_counter()) - self._started_s
        return self.cost_s / span if span > 0 else 0.0

    def _run(self) -> None:
        next_due = time.perf_counter()
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                self._tick()
            except Exception as exc:  # a dying driver must not kill the run; the result notes it
                self.error = f"telemetry sampling stopped: {exc}"
                return
            t1 = time.perf_counter()
            self.cost_s += t1 - t0
            self.ticks += 1
            next_due += self.interval_s
            if next_due < t1:  # fell behind: skip the missed ticks instead of bursting to catch up
                self.late_ticks += 1
                next_due = t1 + self.interval_s
            self._stop.wait(next_due - t1)

    def _get(self, gpu: int, field: str, fn: Any, *args: Any) -> Any:
        if (gpu, field) in self._unsupported:
            return None
        try:
            return fn(*args)
        except Exception:
            self._unsupported.add((gpu, field))  # not supported on this GPU: do not pay for the call again
            return None

    def _tick(self) -> None:
        nv = self._nv
        for gpu, h in zip(self.gpu_indices, self._handles, strict=True):
            t_s = time.perf_counter()
            power = self._get(gpu, "power", nv.nvmlDeviceGetPowerUsage, h)
            temp = self._get(gpu, "temp", nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
            sm = self._get(gpu, "sm", nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM)
            mem = self._get(gpu, "mem", nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM)
            meminfo = self._get(gpu, "meminfo", nv.nvmlDeviceGetMemoryInfo, h)
            reasons = self._get(gpu, "reasons", _reasons_fn(nv), h)
            util_fn = getattr(nv, "nvmlDeviceGetUtilizationRates", None)  # absent from some NVML bindings
            util = self._get(gpu, "util", util_fn, h) if util_fn is not None else None
            energy = (
                self._get(gpu, "energy", nv.nvmlDeviceGetTotalEnergyConsumption, h) if self.energy else None
            )
            self.samples.append(
                TelemetrySample(
                    t_s=t_s,
                    gpu=gpu,
                    power_w=power / 1000 if power is not None else None,
                    temperature_c=float(temp) if temp is not None else None,
                    sm_clock_mhz=sm,
                    mem_clock_mhz=mem,
                    memory_used_mib=meminfo.used / 2**20 if meminfo is not None else None,
                    throttle_reasons=reasons,
                    utilization_pct=util.gpu if util is not None else None,
                    energy_mj=energy,
                )
            )


def _reasons_fn(nv: Any) -> Any:
    # Renamed "clocks event reasons" in newer NVML; the old name is kept as an alias in nvidia-ml-py.
    return (
        getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
        or nv.nvmlDeviceGetCurrentClocksThrottleReasons
    )
