"""The energy meter `measurement.energy_sampler` asks for: NVML's counters, RAPL's, or none (and why)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.errors import ConfigError
from llem.measure import rapl
from llem.measure.energy import EnergyMeter, NoneMeter
from llem.measure.nvml_meter import NvmlMeter

if TYPE_CHECKING:
    from llem.config.measurement import MeasurementConfig
    from llem.plugins.types import DeviceInfo


def open_meter(
    mc: MeasurementConfig, device: DeviceInfo, gpu_indices: list[int] | None = None
) -> EnergyMeter:
    """The meter `mc.energy_sampler` asks for.

    auto: nvml if a GPU with a working energy counter is present, else rapl if /sys/class/powercap is
    readable, else none (with the reason). An explicit nvml or rapl that cannot work is a user error naming
    the field.
    """
    choice = mc.energy_sampler
    if choice == "none":
        return NoneMeter("measurement.energy_sampler is 'none'")
    indices = gpu_indices if gpu_indices is not None else mc.gpu_indices
    if indices is None:
        indices = [g.index for g in device.gpus]
    gpu_problem: str | None = None
    if choice in ("auto", "nvml"):
        if not indices:
            gpu_problem = "no NVIDIA GPU"
        else:
            meter = NvmlMeter(indices)
            if meter.available:
                return meter
            meter.close()
            gpu_problem = meter.reason
        if choice == "nvml":
            raise ConfigError(
                f"'nvml' cannot measure here: {gpu_problem} (use auto or none)",
                source="$.measurement.energy_sampler",
            )
    rapl_meter = rapl.RaplMeter()
    if rapl_meter.available:
        return rapl_meter
    if choice == "rapl":
        raise ConfigError(
            f"'rapl' cannot measure here: {rapl_meter.reason} (use auto or none)",
            source="$.measurement.energy_sampler",
        )
    return NoneMeter(f"{gpu_problem} and {rapl_meter.reason}")
