"""`llem doctor`'s findings: GPUs, energy counters and their measured period, RAPL access, backend health."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec
from msgspec import Meta

from llem.config.measurement import MeasurementConfig
from llem.measure.devices import detect_devices
from llem.measure.environment import GpuEnvironment, snapshot_environment
from llem.measure.meters import open_meter
from llem.measure.rapl import RaplMeter
from llem.plugins.manager import get_plugin_manager

if TYPE_CHECKING:
    from llem.measure.energy import EnergyMeter
    from llem.plugins.manager import LlemPlugins


class CounterCheck(msgspec.Struct, kw_only=True):
    """An energy counter as llem would use it."""

    meter: str
    devices: list[str]
    available: bool
    reason: str | None = None
    update_period_s: Annotated[float | None, Meta(description="Measured update period (slowest device).")] = (
        None
    )
    update_periods_s: list[float] = msgspec.field(default_factory=list)
    read_cost_s: Annotated[float | None, Meta(description="Cost of one read of all its counters.")] = None


class BackendCheck(msgspec.Struct, kw_only=True):
    name: str
    status: str
    version: str | None = None
    error: str | None = None


class DoctorReport(msgspec.Struct, kw_only=True):
    gpus: list[GpuEnvironment]
    visible_gpus: list[int]
    nvml_error: str | None
    energy: CounterCheck
    rapl: CounterCheck
    backends: list[BackendCheck]
    verdict: Annotated[str, Meta(description="One line: is energy measured, how, or why not.")]


def diagnose(plugins: LlemPlugins | None = None) -> DoctorReport:
    """Probe this machine as `llem run` would; opening a meter measures its counter period (~1 s per GPU)."""
    env = snapshot_environment(None)
    device = detect_devices()
    with open_meter(MeasurementConfig(), device) as meter:
        energy = _check(meter)
        verdict = meter.describe()
        if meter.available:
            verdict += f" ({', '.join(meter.devices)})"
    if meter.name == "rapl":
        rapl = energy
    else:
        with RaplMeter() as rapl_meter:
            rapl = _check(rapl_meter)
    plugins = plugins if plugins is not None else get_plugin_manager()
    backends = [
        BackendCheck(name=s.name, status=s.status, version=s.version, error=s.error)
        for s in sorted(plugins.statuses.values(), key=lambda s: s.name)
    ]
    return DoctorReport(
        gpus=env.gpus,
        visible_gpus=[g.index for g in device.gpus],
        nvml_error=env.nvml_error,
        energy=energy,
        rapl=rapl,
        backends=backends,
        verdict=verdict,
    )


def _check(meter: EnergyMeter) -> CounterCheck:
    return CounterCheck(
        meter=meter.name,
        devices=list(meter.devices),
        available=meter.available,
        reason=meter.reason,
        update_period_s=meter.update_period_s,
        update_periods_s=list(getattr(meter, "update_periods_s", ())),
        read_cost_s=meter.read_cost_s,
    )
