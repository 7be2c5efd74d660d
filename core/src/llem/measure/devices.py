"""Which NVIDIA GPUs are present, read through NVML (no torch import)."""

from __future__ import annotations

import os

from llem.plugins.types import DeviceInfo, GpuInfo


def detect_devices() -> DeviceInfo:
    """The GPUs NVML sees, restricted by CUDA_VISIBLE_DEVICES (`visible_gpus`); none if NVML fails."""
    if os.environ.get("LLEM_FORCE_NO_GPU", "") not in ("", "0"):
        return DeviceInfo()
    try:
        # deferred: pynvml is a large module, imported only when GPUs are looked for
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
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
                cc: tuple[int, int] | None = (int(major), int(minor))
            except Exception:
                cc = None
            try:
                mem = int(pynvml.nvmlDeviceGetMemoryInfo(h).total // (1024 * 1024))
            except Exception:
                mem = None
            try:
                uuid = pynvml.nvmlDeviceGetUUID(h)
                uuid = uuid if isinstance(uuid, str) else uuid.decode()
            except Exception:
                uuid = None
            gpus.append(
                GpuInfo(
                    index=i,
                    name=name if isinstance(name, str) else name.decode(),
                    compute_capability=cc,
                    memory_total_mib=mem,
                    uuid=uuid,
                )
            )
        return DeviceInfo(gpus=tuple(visible_gpus(gpus)))
    finally:
        pynvml.nvmlShutdown()


def visible_gpus(gpus: list[GpuInfo]) -> list[GpuInfo]:
    """The GPUs CUDA_VISIBLE_DEVICES leaves visible, by NVML index: entries are indices, UUIDs or unique UUID
    prefixes, as CUDA reads them; an empty value hides every GPU. Only these GPUs' counters are summed."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return gpus
    wanted: set[int] = set()
    for entry in (x.strip() for x in visible.split(",")):
        if not entry:
            continue
        if entry.isdigit():
            wanted.add(int(entry))
            continue
        matches = [g.index for g in gpus if g.uuid and g.uuid.startswith(entry)]
        if len(matches) == 1:
            wanted.add(matches[0])
    return [g for g in gpus if g.index in wanted]
