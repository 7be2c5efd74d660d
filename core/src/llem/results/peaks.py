"""Peak compute and memory bandwidth of known GPUs (per device, dense, no sparsity), for MFU and MBU.

Values are the vendors' datasheet figures. Override them with LLEM_PEAK_TFLOPS (for the run's precision) and
LLEM_PEAK_BANDWIDTH_GBS when the table lacks your GPU or its clocks differ (e.g. a power-capped part).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from llem.errors import UserError


@dataclass(frozen=True)
class DevicePeak:
    """Datasheet peaks of one GPU model."""

    name: str
    bf16_tflops: float  # dense tensor-core bf16/fp16
    fp32_tflops: float  # non-tensor fp32 (what torch uses for fp32 matmuls unless TF32 is enabled)
    bandwidth_gbs: float


# Ordered: the first pattern that matches the NVML name wins, so specific variants come before generic ones.
_TABLE: tuple[tuple[str, DevicePeak], ...] = (
    (r"H200 NVL", DevicePeak("H200 NVL", 835.0, 60.0, 4800.0)),
    (r"H200", DevicePeak("H200 SXM", 989.4, 66.9, 4800.0)),
    (r"H100 NVL", DevicePeak("H100 NVL", 835.0, 60.0, 3900.0)),
    (r"H100.*PCIe", DevicePeak("H100 PCIe", 756.0, 51.2, 2000.0)),
    (r"H100", DevicePeak("H100 SXM", 989.4, 66.9, 3350.0)),
    (r"GH200", DevicePeak("GH200", 989.4, 66.9, 4000.0)),
    (r"A100.*(80GB.*PCIe|PCIE.*80GB)", DevicePeak("A100 80GB PCIe", 312.0, 19.5, 1935.0)),
    (r"A100.*80GB", DevicePeak("A100 80GB SXM", 312.0, 19.5, 2039.0)),
    (r"A100.*PCIE", DevicePeak("A100 40GB PCIe", 312.0, 19.5, 1555.0)),
    (r"A100", DevicePeak("A100 40GB SXM", 312.0, 19.5, 1555.0)),
    (r"L40S", DevicePeak("L40S", 362.05, 91.6, 864.0)),
    (r"\bL4\b", DevicePeak("L4", 121.0, 30.3, 300.0)),
    (r"\bA10\b", DevicePeak("A10", 125.0, 31.2, 600.0)),
    (r"\bT4\b", DevicePeak("T4", 65.0, 8.1, 320.0)),
)


def lookup_peak(gpu_name: str) -> DevicePeak | None:
    """The table entry for an NVML device name such as 'NVIDIA H100 80GB HBM3', or None."""
    for pattern, peak in _TABLE:
        if re.search(pattern, gpu_name, re.I):
            return peak
    return None


def device_peak(gpu_name: str | None, precision: str) -> tuple[float | None, float | None, str | None]:
    """(peak FLOP/s, peak bytes/s, source) of one device at `precision`; env overrides win over the table."""
    flops = bandwidth = None
    source = None
    peak = lookup_peak(gpu_name) if gpu_name else None
    if peak is not None:
        flops = (peak.fp32_tflops if precision == "fp32" else peak.bf16_tflops) * 1e12
        bandwidth = peak.bandwidth_gbs * 1e9
        source = f"table:{peak.name}"
    env_flops = _env_float("LLEM_PEAK_TFLOPS")
    env_bw = _env_float("LLEM_PEAK_BANDWIDTH_GBS")
    if env_flops is not None:
        flops, source = env_flops * 1e12, "env"
    if env_bw is not None:
        bandwidth, source = env_bw * 1e9, "env"
    return flops, bandwidth, source


def _env_float(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"{name}: expected a number, got {raw!r}") from None
    if value <= 0:
        raise UserError(f"{name}: must be > 0, got {raw!r}")
    return value
