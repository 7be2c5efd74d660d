"""`with llem.measure() as m:` — the energy and duration of any block of Python code, by counter edges."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType

from llem.config.measurement import MeasurementConfig
from llem.errors import ConfigError
from llem.measure.devices import detect_devices
from llem.measure.energy import EnergyMeter, EnergyReading, NoneMeter, window_energy
from llem.measure.meters import open_meter


class Measurement:
    """A measured window around user code. After the `with` block:

    energy_j: energy of the window, summed over the measured devices (J); None when nothing here can measure
    energy, and `reason` says why. bound_j: ± bound of energy_j (each edge is uncertain by up to one counter
    period of power). duration_s: the window (s); with a counter, the time between the two counter updates
    that bracket the block (a little longer than the block: each edge waits for the next update).
    short: the window spans fewer than 10 counter periods, so energy_j is dominated by its bound.
    meter: "nvml" (GPUs), "rapl" (CPU package) or "none"; devices: what was measured.
    """

    def __init__(self, gpus: Sequence[int] | None = None, *, min_window_periods: int = 10) -> None:
        self.gpus = list(gpus) if gpus is not None else None
        self.min_window_periods = min_window_periods
        self.energy_j: float | None = None
        self.bound_j: float | None = None
        self.duration_s: float | None = None
        self.short: bool | None = None
        self.reason: str | None = None
        self.meter = "none"
        self.devices: tuple[str, ...] = ()
        self._meter: EnergyMeter | None = None
        self._start: EnergyReading | None = None
        self._t0 = 0.0

    def __enter__(self) -> Measurement:
        self._meter = _open(self.gpus)
        self.meter, self.devices = self._meter.name, tuple(self._meter.devices)
        if self._meter.available:
            self._start = self._meter.read_edge()
        else:
            self.reason = self._meter.reason
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._meter is not None, "Measurement used without `with`"
        t1 = time.perf_counter()
        try:
            if self._start is not None:
                end = self._meter.read_edge()
                w = window_energy(self._meter, self._start, end, min_window_periods=self.min_window_periods)
                self.energy_j, self.bound_j, self.duration_s, self.short = (
                    w.energy_j,
                    w.bound_j,
                    w.duration_s,
                    w.short,
                )
            else:
                self.duration_s = t1 - self._t0
        finally:
            self._meter.close()

    def __repr__(self) -> str:
        if self.energy_j is None:
            return f"Measurement(duration_s={self.duration_s}, energy_j=None, reason={self.reason!r})"
        return (
            f"Measurement(energy_j={self.energy_j:.6g}, bound_j={self.bound_j}, "
            f"duration_s={self.duration_s:.6g}, meter={self.meter!r}, devices={self.devices})"
        )


def _open(gpus: list[int] | None) -> EnergyMeter:
    """NVML for the given GPUs (all visible ones when None), else RAPL when gpus is None, else NoneMeter."""
    device = detect_devices()
    if gpus:
        visible = {g.index for g in device.gpus}
        if not visible:
            return NoneMeter("no NVIDIA GPU")
        missing = sorted(set(gpus) - visible)
        if missing:
            return NoneMeter(f"GPU {missing} not visible (visible: {sorted(visible)})")
    mc = MeasurementConfig(energy_sampler="nvml", gpu_indices=gpus) if gpus else MeasurementConfig()
    try:
        return open_meter(mc, device, gpus)
    except ConfigError as exc:  # the GPUs asked for cannot be measured: say so, never a zero
        return NoneMeter(
            exc.message.removeprefix("'nvml' cannot measure here: ").removesuffix(" (use auto or none)")
        )


def measure(gpus: Sequence[int] | None = None, *, min_window_periods: int = 10) -> Measurement:
    """`with llem.measure() as m: ...` then `m.energy_j`, `m.bound_j`, `m.duration_s` (see Measurement).

    gpus: NVIDIA GPU indices to measure (None: every visible GPU, or the CPU package through RAPL where no GPU
    counter exists). Where nothing can measure energy, `m.energy_j` is None and `m.reason` says why.
    """
    return Measurement(gpus, min_window_periods=min_window_periods)
