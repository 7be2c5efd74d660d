"""Energy meters: cumulative energy counters read at the edges of a measured window.

Energy is the difference of a hardware energy counter between two readings (NVML's total-energy counter per
GPU,
RAPL's energy_uj per CPU package), never integrated power samples: on Hopper the power reading is a ~1 s
moving
average that under-counts short phases by up to half (docs/methodology.md).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Annotated, Literal

import msgspec
from msgspec import Meta


class EnergyNotMeasured(RuntimeError):
    """Raised when energy is read from a meter that cannot measure it (never a silent zero)."""


class EnergyReading(msgspec.Struct, frozen=True, kw_only=True):
    """One reading of the counters: a time and the energy per device since the meter was opened."""

    t_s: Annotated[
        float, Meta(description="time.perf_counter() at the reading (midpoint of the counter reads).")
    ]
    joules: Annotated[
        tuple[float, ...], Meta(description="Cumulative energy per device since the meter opened (J).")
    ]
    edge_power_w: Annotated[
        float | None,
        Meta(
            description="Power at this edge, from the counter update read_edge waited for (W); None: read()."
        ),
    ] = None

    update_power_w: Annotated[
        tuple[float | None, ...] | None,
        Meta(description="Per device, power over the counter interval that ended at this aligned edge (W)."),
    ] = None

    @property
    def total_j(self) -> float:
        return sum(self.joules)


def at_time(reading: EnergyReading, t_s: float) -> EnergyReading:
    """An aligned start edge moved to `t_s`, when the workload really started (a few ms after the update).

    The energy between the update and `t_s` is not the workload's: it is taken at the power of the interval
    before the update (the device was idle then, as it is until `t_s`).
    """
    if reading.update_power_w is None:
        return reading
    dt = t_s - reading.t_s
    joules = tuple(j + (p or 0.0) * dt for j, p in zip(reading.joules, reading.update_power_w, strict=True))
    return EnergyReading(t_s=t_s, joules=joules, edge_power_w=reading.edge_power_w)


class WindowEnergy(msgspec.Struct, frozen=True, kw_only=True):
    """Energy of the window between two readings, with its uncertainty."""

    energy_j: Annotated[float, Meta(description="Energy of the window, summed over devices (J).")]
    per_device_j: Annotated[tuple[float, ...], Meta(description="Energy of the window per device (J).")]
    duration_s: Annotated[float, Meta(description="Time between the two readings (s).")]
    mean_power_w: Annotated[
        float | None, Meta(description="energy_j / duration_s (W); None for a zero-length window.")
    ]
    bound_j: Annotated[
        float | None,
        Meta(
            description="± bound of energy_j from the counter period (J). None: a window under two periods "
            "read without read_edge: its mean power, which the bound needs, is itself unknown."
        ),
    ]
    periods: Annotated[
        float | None, Meta(description="Window length in counter update periods (None: period unknown).")
    ]
    short: Annotated[
        bool,
        Meta(description="Shorter than min_window_periods counter periods: per-token energy is withheld."),
    ]


class EnergyMeter(ABC):
    """A source of cumulative energy for a fixed set of devices.

    `available` False means energy is not measured; `reason` says why in words a user can act on, and `read()`
    raises EnergyNotMeasured instead of returning zeros.
    """

    name: Literal["nvml", "rapl", "none"]
    scope: Literal["gpu", "cpu-package"] | None = None
    devices: tuple[str, ...] = ()
    available: bool = False
    reason: str | None = None
    update_period_s: float | None = None
    read_cost_s: float | None = None

    def __init__(self) -> None:
        # Anomalies seen while reading (counter reset, an edge that never aligned): the run puts them in its
        # notes.
        self.notes: list[str] = []

    @abstractmethod
    def read(self) -> EnergyReading:
        """Read all counters now."""

    @abstractmethod
    def read_edge(self) -> EnergyReading:
        """A window edge aligned to the counter's next update (see CounterMeter.read_edge)."""

    def window_end(self, start: EnergyReading, t_end: float) -> EnergyReading:
        """The end edge of a window whose workload finished at `t_end` (see CounterMeter.window_end)."""
        del start, t_end
        return self.read_edge()

    def keep(self, positions: list[int]) -> None:  # noqa: B027 (a meter without devices keeps nothing)
        """Read only the devices at these positions of `devices` from now on."""

    def close(self) -> None:  # noqa: B027 (most meters hold nothing to release)
        """Release the counter's resources; the meter cannot be read afterwards."""

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        """One line for users: what is measured, with which counter, on which devices."""
        if not self.available:
            return f"energy: NOT measured ({self.reason})"
        n = len(self.devices)
        what = {"gpu": "GPU", "cpu-package": "CPU package"}.get(self.scope or "", "device")
        period = f", counter period {self.update_period_s * 1000:.1f} ms" if self.update_period_s else ""
        return f"energy: measured with {self.name} on {n} {what}{'s' if n != 1 else ''}{period}"


class NoneMeter(EnergyMeter):
    """No energy source: every read raises EnergyNotMeasured carrying the reason."""

    name = "none"

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def read(self) -> EnergyReading:
        raise EnergyNotMeasured(f"energy is not measured: {self.reason}")

    def read_edge(self) -> EnergyReading:
        return self.read()


class CounterMeter(EnergyMeter):
    """A meter over monotonic integer counters, with wrap and reset handling and edge alignment.

    Subclasses provide `_read_raw()` (one integer per device, in units of `_joules_per_unit`) and
    `_wrap_units`
    (the value at which each counter wraps to 0, or None when it never does in practice).
    """

    _joules_per_unit: float = 1.0
    _poll_s: float = 0.0002  # sleep between polls in read_edge; the NVML read itself already costs ~4 ms

    def __init__(self) -> None:
        super().__init__()
        self._wrap_units: list[int | None] = []
        self._last: list[int] | None = None
        self._cumulative: list[int] = []
        self._closed = False

    @abstractmethod
    def _read_raw(self) -> list[int]:
        """The raw counter value of each device."""

    def keep(self, positions: list[int]) -> None:
        self.devices = tuple(self.devices[i] for i in positions)
        self._wrap_units = [self._wrap_units[i] for i in positions if i < len(self._wrap_units)]
        if self._last is not None:
            self._last = [self._last[i] for i in positions]
            self._cumulative = [self._cumulative[i] for i in positions]
        self._keep_raw(positions)

    def _keep_raw(self, positions: list[int]) -> None:
        """Restrict the subclass's own per-device state (handles, periods) to `positions`; most have none."""
        del positions

    def _timed_raw(self) -> tuple[float, list[int]]:
        t0 = time.perf_counter()
        raw = self._read_raw()
        return (t0 + time.perf_counter()) / 2, raw

    def _accumulate(self, raw: Sequence[int]) -> EnergyReading | None:
        if self._last is None:
            self._last = list(raw)
            self._cumulative = [0] * len(raw)
            return None
        for i, value in enumerate(raw):
            last = self._last[i]
            if value >= last:
                self._cumulative[i] += value - last
            else:
                wrap = self._wrap_units[i] if i < len(self._wrap_units) else None
                if wrap is not None and last > wrap // 2:  # a wrap: the counter passed its maximum once
                    self._cumulative[i] += wrap - last + value
                else:  # a reset (driver reload): what was used between the reads before the reset is lost
                    self._cumulative[i] += value
                    self.notes.append(
                        f"{self.devices[i] if i < len(self.devices) else f'device {i}'}: energy counter went "
                        f"backwards ({last} -> {value}, a driver reload?); energy across it may be "
                        "under-counted"
                    )
            self._last[i] = value
        return None

    def _reading(self, t_s: float, raw: Sequence[int], edge_power_w: float | None = None) -> EnergyReading:
        self._accumulate(raw)
        joules = tuple(c * self._joules_per_unit for c in self._cumulative)
        return EnergyReading(t_s=t_s, joules=joules, edge_power_w=edge_power_w)

    def _edge_power_w(self, before: Sequence[int], after: Sequence[int]) -> float | None:
        """Power during the update interval that ends at the edge: one update's increment over the period."""
        if not self.update_period_s or any(b < a for a, b in zip(before, after, strict=True)):
            return None
        return (
            sum(b - a for a, b in zip(before, after, strict=True))
            * self._joules_per_unit
            / self.update_period_s
        )

    def read(self) -> EnergyReading:
        if not self.available:
            raise EnergyNotMeasured(f"energy is not measured: {self.reason}")
        if self._closed:
            raise RuntimeError(f"{self.name} meter is closed")
        t_s, raw = self._timed_raw()
        return self._reading(t_s, raw)

    def _period_s(self, i: int) -> float | None:
        periods = getattr(self, "update_periods_s", ())
        return periods[i] if i < len(periods) else self.update_period_s

    def _await_update(
        self, timeout_s: float | None
    ) -> tuple[float, list[int], list[int] | None, list[float]]:
        """Poll until every counter has moved once.

        Returns (time of the first read, its values, each counter's first new value or None on a timeout,
        each counter's estimated update moment: halfway between the last read that saw the old value and the
        first that saw the new one).
        """
        if timeout_s is None:
            timeout_s = 5 * self.update_period_s if self.update_period_s else 1.0
        t_first, first = self._timed_raw()
        t_prev = t_first
        moved: list[int | None] = [None] * len(first)
        updated_at = [0.0] * len(first)
        deadline = time.perf_counter() + timeout_s
        while True:
            time.sleep(self._poll_s)
            t_s, raw = self._timed_raw()
            for i, value in enumerate(raw):
                if moved[i] is None and value != first[i]:
                    moved[i] = value
                    updated_at[i] = (t_prev + t_s) / 2
            t_prev = t_s
            if all(v is not None for v in moved):
                return t_first, first, [int(v) for v in moved if v is not None], updated_at
            if time.perf_counter() > deadline:
                self.notes.append(
                    f"{self.name}: a counter did not update within {timeout_s:.2f} s at a window edge; "
                    "that edge is not aligned (still within the ± bound)"
                )
                return t_first, first, None, [t_s] * len(first)

    def read_edge(self, timeout_s: float | None = None) -> EnergyReading:
        """A reading aligned to the counter's next update: exact for the moment of that update.

        A counter value stands for the energy up to its last update, which may be up to one period old, so a
        plain read misses up to one period (on average half a period of power: what a plain begin/end read
        does). Instead, poll until every counter has moved and return that value, stamped with the estimated
        moment of the update, with the power of the update interval that ended there (`update_power_w`). At a
        window's start, start the workload right after this returns and move the edge to that moment with
        `at_time`; at its end use `window_end`, which does not count what follows the workload.
        """
        if not self.available:
            raise EnergyNotMeasured(f"energy is not measured: {self.reason}")
        _, before, after, updated_at = self._await_update(timeout_s)
        if after is None:
            t_s, raw = self._timed_raw()
            return self._reading(t_s, raw)
        powers = tuple(self._interval_power_w(i, before[i], after[i]) for i in range(len(after)))
        stamp = max(updated_at)
        reading = self._reading(stamp, after, self._edge_power_w(before, after))
        # Each counter updated at its own moment; bring every device to the common stamp (the last update) at
        # the power of its interval that just ended, so one time stands for all devices' values.
        joules = tuple(
            j + (p or 0.0) * (stamp - u) for j, p, u in zip(reading.joules, powers, updated_at, strict=True)
        )
        return msgspec.structs.replace(reading, joules=joules, update_power_w=powers)

    def _interval_power_w(self, i: int, before: int, after: int) -> float | None:
        period = self._period_s(i)
        if not period or after < before:
            return None
        return (after - before) * self._joules_per_unit / period

    def window_end(self, start: EnergyReading, t_end: float, timeout_s: float | None = None) -> EnergyReading:
        """The end edge of a window whose workload finished at `t_end` (perf_counter), interpolated.

        Waiting for the next counter update (as `read_edge` does) would count the low-power tail between the
        end of the workload and that update: up to one period, half on average, which reads a 1 s window
        ~2 % high. Instead: the counter value read right after `t_end` stands for the energy up to the update
        before it (one period before the update the poll then sees); the energy from that update to `t_end`
        is the window's power so far (from `start`) times the time elapsed, capped by what the counter then
        added. When the window holds no whole counter period, the straddling update interval is split
        linearly. Per device; the reading is stamped `t_end`.
        """
        if not self.available:
            raise EnergyNotMeasured(f"energy is not measured: {self.reason}")
        _, before, after, updated_at = self._await_update(timeout_s)
        if after is None:
            return self._reading(t_end, before)
        aligned = self._reading(max(updated_at), after, self._edge_power_w(before, after))
        joules = []
        for i, (v0, v1) in enumerate(zip(before, after, strict=True)):
            period = self._period_s(i)
            step_j = (v1 - v0) * self._joules_per_unit
            at_v1 = aligned.joules[i]
            if not period or v1 < v0:  # unknown period or a counter reset: keep the aligned value
                joules.append(at_v1)
                continue
            u0 = updated_at[i] - period  # the update that published v0
            at_v0 = at_v1 - step_j
            since_start = u0 - start.t_s
            # the window's power so far, else (no whole period in it) the straddling interval's
            power = (at_v0 - start.joules[i]) / since_start if since_start >= period else step_j / period
            # u0 may fall after t_end when an update landed between t_end and the first read: step back.
            delta = power * (t_end - u0)
            joules.append(at_v0 + min(max(delta, -max(at_v0 - start.joules[i], 0.0)), step_j))
        powers = tuple(self._interval_power_w(i, before[i], after[i]) for i in range(len(after)))
        return EnergyReading(
            t_s=t_end, joules=tuple(joules), edge_power_w=aligned.edge_power_w, update_power_w=powers
        )

    def close(self) -> None:
        self._closed = True


def window_energy(
    meter: EnergyMeter, start: EnergyReading, end: EnergyReading, *, min_window_periods: int = 10
) -> WindowEnergy:
    """Energy between two readings of `meter`, with its ± bound and the short-window flag."""
    per_device = tuple(b - a for a, b in zip(start.joules, end.joules, strict=True))
    duration_s = end.t_s - start.t_s
    energy_j = sum(per_device)
    mean_power_w = energy_j / duration_s if duration_s > 0 else None
    period = meter.update_period_s
    periods = duration_s / period if period else None
    edges = (start.edge_power_w, end.edge_power_w)
    unaligned_short = periods is not None and periods < 2 and None in edges
    return WindowEnergy(
        energy_j=energy_j,
        per_device_j=per_device,
        duration_s=duration_s,
        mean_power_w=mean_power_w,
        bound_j=None
        if unaligned_short or mean_power_w is None
        else energy_bound_j(meter, mean_power_w, edge_powers_w=edges),
        periods=periods,
        short=periods is not None and periods < min_window_periods,
    )


def device_bounds_j(meter: EnergyMeter, start: EnergyReading, end: EnergyReading) -> list[float | None]:
    """± bound of each device's window energy: `energy_bound_j` with that device's own powers."""
    duration = end.t_s - start.t_s
    if duration <= 0:
        return [None] * len(start.joules)
    out: list[float | None] = []
    for i, (a, b) in enumerate(zip(start.joules, end.joules, strict=True)):
        edges = tuple(
            r.update_power_w[i] if r.update_power_w is not None and i < len(r.update_power_w) else None
            for r in (start, end)
        )
        out.append(energy_bound_j(meter, (b - a) / duration, edge_powers_w=(edges[0], edges[1])))
    return out


def energy_bound_j(
    meter: EnergyMeter,
    mean_power_w: float,
    *,
    edge_powers_w: tuple[float | None, float | None] = (None, None),
) -> float:
    """± bound of a window's energy: each of its two edges is uncertain by up to one counter period of power.

    The read cost is added to the period (a counter value is sampled somewhere inside its read call). The
    power at
    an edge is the larger of the window's mean power and, when read_edge measured it, the power at that edge:
    a
    window that ends in a burst has more energy per period at its end than on average.
    """
    period = (meter.update_period_s or 0.0) + (meter.read_cost_s or 0.0)
    mean = abs(mean_power_w)
    return sum(period * max(mean, p if p is not None else 0.0) for p in edge_powers_w)
