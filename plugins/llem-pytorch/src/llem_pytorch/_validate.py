"""Checks made before anything loads: packages the chosen settings need, and what this machine's torch can do.

Compute-capability and no-GPU requirements are declared on the fields (gpu(...) in _config.py) and
checked by the core; here are the checks only this backend can make. Each problem is one line naming the
field and saying why.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from llem.kit.parallel import world_size_problems

from llem_pytorch._config import PyTorchConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.types import DeviceInfo


# attn_implementation value -> (module transformers imports, pip package that provides it)
_FLASH_PACKAGES = {
    "flash_attention_2": ("flash_attn", "flash-attn"),
    "flash_attention_3": (
        "flash_attn_interface",
        "flash-attn-3 (built from flash-attention's hopper/ folder)",
    ),
}


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def problems(config: ExperimentBase, device: DeviceInfo) -> list[str]:
    """Every reason this config cannot run as asked on this machine (empty when it can)."""
    pt = config.section(PyTorchConfig)
    out: list[str] = []
    out += _package_problems(pt)
    out += _parallel_problems(pt, device)
    out += _torch_cuda_problems(config, pt, device)
    return out


def _package_problems(pt: PyTorchConfig) -> list[str]:
    out = []
    if pt.attn_implementation in _FLASH_PACKAGES:
        module, package = _FLASH_PACKAGES[pt.attn_implementation]
        if not installed(module):
            out.append(
                f"pytorch.attn_implementation: {pt.attn_implementation} needs the {package} package "
                f"(module {module} is not installed); use sdpa, or install it"
            )
    for name in ("load_in_4bit", "load_in_8bit"):
        if getattr(pt, name):
            if not installed("bitsandbytes"):
                out.append(f"pytorch.{name}: needs the bitsandbytes package, which is not installed")
            if not installed("accelerate"):
                out.append(
                    f"pytorch.{name}: transformers' bitsandbytes loader needs accelerate, not installed"
                )
    for name in ("device_map", "max_memory"):
        if getattr(pt, name) is not None and not installed("accelerate"):
            out.append(f"pytorch.{name}: transformers needs the accelerate package for device placement")
    return out


def _parallel_problems(pt: PyTorchConfig, device: DeviceInfo) -> list[str]:
    n = pt.num_processes or 1
    if n == 1:
        return []
    out = []
    if pt.device_map is not None:
        out.append(
            "pytorch.device_map: cannot be combined with num_processes > 1 (each data-parallel worker "
            "owns one whole GPU)"
        )
    if pt.max_memory is not None:
        out.append("pytorch.max_memory: cannot be combined with num_processes > 1 (each worker owns one GPU)")
    out += world_size_problems("pytorch.num_processes", "data-parallel workers", n, device)
    return out


def _needs_cuda(config: ExperimentBase, pt: PyTorchConfig) -> list[str]:
    """Settings of this config that cannot run without CUDA, as 'field: value'."""
    needs = []
    if pt.cache_implementation == "offloaded_static":
        needs.append("pytorch.cache_implementation: offloaded_static")
    if pt.attn_implementation in _FLASH_PACKAGES:
        needs.append(f"pytorch.attn_implementation: {pt.attn_implementation}")
    for name in ("load_in_4bit", "load_in_8bit"):
        if getattr(pt, name):
            needs.append(f"pytorch.{name}: true")
    return needs


def _torch_cuda_problems(config: ExperimentBase, pt: PyTorchConfig, device: DeviceInfo) -> list[str]:
    """A GPU is visible but torch cannot use it: say so rather than measure a GPU that does nothing.

    Without a visible GPU the core already refuses GPU-only settings (declared with gpu() on the fields).
    """
    if not device.has_gpu:
        return []
    runs_on_cpu = pt.device_map == "cpu"
    import torch

    out = []
    if not torch.cuda.is_available():
        why = f"this torch ({torch.__version__}) cannot use CUDA"
        needs = _needs_cuda(config, pt)
        out += [f"{need} needs CUDA, but {why}" for need in needs]
        if not needs and not runs_on_cpu:
            out.append(
                f"pytorch.device_map: an NVIDIA GPU is visible but {why}; the model would run on the CPU "
                "while the GPU is measured. Install a CUDA build of torch, or set device_map: cpu"
            )
        return out
    cc = device.min_cc
    if config.precision == "bf16" and cc is not None and cc < 8.0 and not runs_on_cpu:
        out.append(f"precision: bf16 needs compute capability 8.0+ on the GPU, this one has {cc}; use fp16")
    return out
