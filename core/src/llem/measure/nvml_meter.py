"""NVML energy meter: nvmlDeviceGetTotalEnergyConsumption (mJ since driver load) per GPU."""

from __future__ import annotations

import functools
from typing import Any

from llem.errors import ConfigError
from llem.measure.counter_period import CounterStuck, measure_period, measure_read_cost
from llem.measure.energy import CounterMeter
from llem.measure.nvml import NvmlUnavailable, device_label, error_text, nvml_init, nvml_shutdown


class NvmlMeter(CounterMeter):
    """Energy of the given GPUs (NVML indices) from their energy counters.

    Opening measures each counter's real update period (about 0.1 s on an H100, ~0.6 s per GPU to find) and
    the
    cost of one read of all counters. If a GPU has no counter (pre-Volta) or NVML fails, `available` is False
    and
    `reason` says why.
    """

    name = "nvml"
    scope = "gpu"
    _joules_per_unit = 1e-3  # the counter counts millijoules

    def __init__(self, gpu_indices: list[int], *, with_period: bool = True) -> None:
        super().__init__()
        self.gpu_indices = list(gpu_indices)
        self.update_periods_s: tuple[float, ...] = ()
        self._pynvml: Any = None
        self._handles: list[Any] = []
        try:
            self._pynvml = nvml_init()
        except NvmlUnavailable as exc:
            self.reason = str(exc)
            return
        self._open(with_period)

    def _open(self, with_period: bool) -> None:
        nv = self._pynvml
        count = nv.nvmlDeviceGetCount()
        missing = [i for i in self.gpu_indices if not 0 <= i < count]
        if missing:
            self.close()
            raise ConfigError(
                f"GPU {missing[0]} does not exist (NVML sees {count} GPU{'s' if count != 1 else ''}: "
                f"indices 0..{count - 1})",
                source="$.measurement.gpu_indices",
            )
        self._handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in self.gpu_indices]
        self.devices = tuple(
            device_label(nv, h, i) for h, i in zip(self._handles, self.gpu_indices, strict=True)
        )
        for label, handle in zip(self.devices, self._handles, strict=True):
            try:
                nv.nvmlDeviceGetTotalEnergyConsumption(handle)
            except Exception as exc:
                self.reason = f"{label} has no readable energy counter (NVML: {error_text(exc)})"
                return
        self._wrap_units = [2**64] * len(self._handles)  # unsigned long long millijoules
        if with_period:
            periods = []
            for label, handle in zip(self.devices, self._handles, strict=True):
                try:
                    periods.append(
                        measure_period(functools.partial(nv.nvmlDeviceGetTotalEnergyConsumption, handle))
                    )
                except CounterStuck as exc:
                    self.reason = f"{label}: {exc}"
                    return
            self.update_periods_s = tuple(periods)
            # One period for the whole meter: the slowest counter bounds every edge.
            self.update_period_s = max(periods)
        self.read_cost_s = measure_read_cost(self._read_raw, n=10)
        self.available = True

    def _keep_raw(self, positions: list[int]) -> None:
        self.gpu_indices = [self.gpu_indices[i] for i in positions]
        self._handles = [self._handles[i] for i in positions]
        if self.update_periods_s:
            self.update_periods_s = tuple(self.update_periods_s[i] for i in positions)
            self.update_period_s = max(self.update_periods_s)

    def _read_raw(self) -> list[int]:
        get = self._pynvml.nvmlDeviceGetTotalEnergyConsumption
        return [int(get(h)) for h in self._handles]

    def close(self) -> None:
        if self._pynvml is not None and not self._closed:
            nvml_shutdown(self._pynvml)
        super().close()
