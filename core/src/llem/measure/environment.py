"""The environment snapshot recorded with every result (GPUs, host, package versions) and GPU temperatures."""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from importlib import metadata
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from llem.measure.nvml import NvmlUnavailable, as_str, nvml_init, nvml_shutdown, try_read

# The core's own distributions whose versions change the numbers; a backend adds its engine's through
# Capabilities.engine_packages. Only installed ones are recorded (never imported).
PACKAGES = ("llem-core", "msgspec", "nvidia-ml-py", "pluggy")


class GpuEnvironment(msgspec.Struct, kw_only=True):
    """One GPU's identity, limits and state when the snapshot was taken. None: not reported by this GPU."""

    index: Annotated[int, Meta(description="NVML index.")]
    name: str | None = None
    uuid: str | None = None
    driver: Annotated[str | None, Meta(description="NVIDIA driver version.")] = None
    cuda_driver_version: Annotated[
        str | None, Meta(description="CUDA version the driver supports, e.g. '13.0'.")
    ] = None
    compute_capability: tuple[int, int] | None = None
    memory_total_mib: int | None = None
    power_limit_w: Annotated[float | None, Meta(description="Enforced power limit (W).")] = None
    default_power_limit_w: float | None = None
    sm_clock_mhz: Annotated[int | None, Meta(description="SM clock at snapshot time.")] = None
    max_sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    persistence_mode: bool | None = None
    temperature_c: float | None = None
    pstate: Annotated[int | None, Meta(description="Performance state (0 = highest).")] = None


class Environment(msgspec.Struct, kw_only=True):
    """Everything about the machine needed to reproduce or explain a result."""

    gpus: list[GpuEnvironment] = msgspec.field(default_factory=list)
    cpu_model: str | None = None
    cpu_cores: Annotated[int | None, Meta(description="Logical CPUs (os.cpu_count()).")] = None
    ram_total_mib: int | None = None
    os: str = ""
    python: str = ""
    hostname: str = ""
    packages: Annotated[
        dict[str, str], Meta(description="Installed versions of the packages that matter.")
    ] = msgspec.field(default_factory=dict)
    cuda_visible_devices: str | None = None
    slurm_job_id: Annotated[
        str | None,
        Meta(description="The SLURM job this ran in ($SLURM_JOB_ID), if any; hostname names the node."),
    ] = None
    nvml_error: Annotated[str | None, Meta(description="Why GPUs could not be read, if they could not.")] = (
        None
    )


def snapshot_environment(gpu_indices: list[int] | None) -> Environment:
    """Read the host and the given GPUs (NVML indices; None: every GPU NVML sees)."""
    env = Environment(
        cpu_model=_cpu_model(),
        cpu_cores=os.cpu_count(),
        ram_total_mib=_ram_total_mib(),
        os=platform.platform(),
        python=sys.version.split()[0],
        hostname=socket.gethostname(),
        packages=installed_versions(),
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        slurm_job_id=os.environ.get("SLURM_JOB_ID"),
    )
    if gpu_indices is not None and not gpu_indices:
        return env
    try:
        nv = nvml_init()
    except NvmlUnavailable as exc:
        env.nvml_error = str(exc)
        return env
    try:
        indices = gpu_indices if gpu_indices is not None else list(range(nv.nvmlDeviceGetCount()))
        env.gpus = [_gpu(nv, i) for i in indices]
    finally:
        nvml_shutdown(nv)
    return env


def _gpu(nv: Any, index: int) -> GpuEnvironment:
    h = nv.nvmlDeviceGetHandleByIndex(index)
    cuda = try_read(nv.nvmlSystemGetCudaDriverVersion)
    cc = try_read(nv.nvmlDeviceGetCudaComputeCapability, h)
    mem = try_read(nv.nvmlDeviceGetMemoryInfo, h)
    limit = try_read(nv.nvmlDeviceGetEnforcedPowerLimit, h)
    default_limit = try_read(nv.nvmlDeviceGetPowerManagementDefaultLimit, h)
    persistence = try_read(nv.nvmlDeviceGetPersistenceMode, h)
    name = try_read(nv.nvmlDeviceGetName, h)
    uuid = try_read(nv.nvmlDeviceGetUUID, h)
    driver = try_read(nv.nvmlSystemGetDriverVersion)
    temp = try_read(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
    return GpuEnvironment(
        index=index,
        name=as_str(name) if name is not None else None,
        uuid=as_str(uuid) if uuid is not None else None,
        driver=as_str(driver) if driver is not None else None,
        cuda_driver_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
        compute_capability=(int(cc[0]), int(cc[1])) if cc else None,
        memory_total_mib=int(mem.total // 2**20) if mem is not None else None,
        power_limit_w=limit / 1000 if limit is not None else None,
        default_power_limit_w=default_limit / 1000 if default_limit is not None else None,
        sm_clock_mhz=try_read(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM),
        max_sm_clock_mhz=try_read(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_SM),
        mem_clock_mhz=try_read(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM),
        persistence_mode=bool(persistence) if persistence is not None else None,
        temperature_c=float(temp) if temp is not None else None,
        pstate=try_read(nv.nvmlDeviceGetPerformanceState, h),
    )


def installed_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Versions of the installed distributions among `names`, from their metadata (nothing is imported)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def gpu_temperatures(gpu_indices: list[int]) -> dict[int, float | None]:
    """Current temperature of each GPU (°C); empty when NVML is unavailable."""
    try:
        nv = nvml_init()
    except NvmlUnavailable:
        return {}
    try:
        return {i: _temperature(nv, nv.nvmlDeviceGetHandleByIndex(i)) for i in gpu_indices}
    finally:
        nvml_shutdown(nv)


def settle_temperature(
    gpu_indices: list[int], delta_c: float, timeout_s: float, *, window_s: float = 5.0, poll_s: float = 0.5
) -> tuple[bool, float]:
    """Wait until every GPU's temperature varies by less than `delta_c` over the last `window_s` seconds.

    Returns (settled, waited_s). Not settled when `timeout_s` passes first or temperatures cannot be read.
    """
    if not gpu_indices:
        return False, 0.0
    try:
        nv = nvml_init()
    except NvmlUnavailable:
        return False, 0.0
    t0 = time.perf_counter()
    history: list[tuple[float, list[float]]] = []
    try:
        handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in gpu_indices]
        while True:
            now = time.perf_counter()
            temps = [_temperature(nv, h) for h in handles]
            known = [t for t in temps if t is not None]
            if len(known) < len(temps):
                return False, now - t0
            history.append((now, known))
            if now - history[0][0] >= window_s:
                recent = [temps_ for t, temps_ in history if t >= now - window_s]
                spreads = [max(col) - min(col) for col in zip(*recent, strict=True)]
                if max(spreads) < delta_c:
                    return True, now - t0
            if now - t0 >= timeout_s:
                return False, now - t0
            time.sleep(poll_s)
    finally:
        nvml_shutdown(nv)


def _temperature(nv: Any, handle: Any) -> float | None:
    value = try_read(nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU)
    return float(value) if value is not None else None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _ram_total_mib() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20)
    except (ValueError, OSError, AttributeError):
        return None
