"""Which NVIDIA GPUs are present, read through NVML (no torch import)."""

from __future__ import annotations

import os

from llem.plugins.types import DeviceInfo, GpuInfo


def detect_devices() -> DeviceInfo:
    """The GPUs NVML sees, restricted by CUDA_VISIBLE_DEVICES (`visible_gpus`); none if NVML fails."""
    if os.environ.get("LLEM_FORCE_NO_GPU", "") not in ("", "0"):
        return DeviceInfo()
    try:
        import pynvml
    except ImportError:
        return DeviceInfo()
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU: a CPU machine
        return DeviceInfo()
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            try:
                cc: tuple[int, int] | None = tuple(pynvml.nvmlDeviceGetCudaComputeCapability(h))  # type: ignore[assignment]
            except Exception:
                cc = None
            try:
                mem = int(pynvml.nvmlDeviceGetMemoryInfo(h).total // (1024 * 1024))
            except Exception:
                mem = None
            gpus.append(
                GpuInfo(
                    index=i,
                    name=name if isinstance(name, str) else name.decode(),
                    compute_capability=cc,
                    memory_total_mib=mem,
                )
            )
        return DeviceInfo(gpus=tuple(visible_gpus(gpus)))
    finally:
        pynvml.nvmlShutdown()


def visible_gpus(gpus: list[GpuInfo]) -> list[GpuInfo]:
    """Restrict to CUDA_VISIBLE_DEVICES when it lists integer indices (UUIDs are kept as-is: all GPUs)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or visible.strip() == "":
        return gpus if visible is None else []
    try:
        wanted = [int(x) for x in visible.split(",") if x.strip()]
    except ValueError:
        return gpus
    return [g for g in gpus if g.index in wanted]
