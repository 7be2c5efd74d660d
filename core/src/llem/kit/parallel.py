"""World-size checks: a setting that needs more GPUs than the machine shows is refused before loading."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llem.plugins.types import DeviceInfo


def world_size(*sizes: int | None) -> int:
    """The product of parallel sizes, a None counting as 1 (the libraries' default)."""
    total = 1
    for size in sizes:
        total *= size or 1
    return total


def world_size_problems(field: str, what: str, needed: int, device: DeviceInfo) -> list[str]:
    """One line when `needed` GPUs (one per rank) exceed the visible ones; none on a CPU-only machine, where
    the backend's own checks say whether it runs at all.

    field: the config path to name (e.g. "NAME.tensor_parallel_size"); what: the ranks, in plural
    ("data-parallel workers", "ranks (tensor × pipeline parallel)")."""
    have = len(device.gpus)
    if not device.has_gpu or needed <= have:
        return []
    return [f"{field}: {needed} {what} need {needed} GPUs (one each), {have} visible"]
