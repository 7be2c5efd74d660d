"""Access to NVML (pynvml, from nvidia-ml-py): lazy import, reference-counted init, tolerant reads."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class NvmlUnavailable(RuntimeError):
    """NVML cannot be used here: no pynvml, no driver or no GPU. The message says which, in one line."""


def nvml_init() -> Any:
    """Import pynvml and call nvmlInit; returns the module. Pair every call with `nvml_shutdown`.

    NVML reference-counts init/shutdown, so nested users (a meter, the sampler, the snapshot) are independent.
    """
    try:
        # deferred: pynvml is a large module, imported only when NVML is opened
        import pynvml
    except ImportError as exc:
        raise NvmlUnavailable("pynvml (nvidia-ml-py) is not installed") from exc
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...: a CPU machine
        raise NvmlUnavailable(f"NVML could not start ({error_text(exc)})") from exc
    return pynvml


def nvml_shutdown(pynvml: Any) -> None:
    with contextlib.suppress(Exception):  # shut down twice or after a driver failure: nothing to release
        pynvml.nvmlShutdown()


def error_text(exc: BaseException) -> str:
    """One line for an NVML error, e.g. 'Not Supported'."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def try_read(fn: Callable[..., T], *args: Any) -> T | None:
    """Call an NVML getter; None when the device does not support it or the call fails."""
    try:
        return fn(*args)
    except Exception:
        return None


def as_str(value: Any) -> str:
    """pynvml returns bytes from older releases and str from newer ones."""
    return value.decode() if isinstance(value, bytes) else str(value)


def device_label(pynvml: Any, handle: Any, index: int) -> str:
    """Human name of a GPU, e.g. 'GPU 0 NVIDIA H100 80GB HBM3'."""
    name = try_read(pynvml.nvmlDeviceGetName, handle)
    return f"GPU {index} {as_str(name)}" if name is not None else f"GPU {index}"
