"""The order in which a study's (point, cycle) runs execute, and which consecutive runs may share a loaded
model."""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec
import msgspec.structs

from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import Capabilities

Order = Literal["sequential", "interleaved", "shuffled"]

# Top-level fields that only change what runs on an already loaded model, never the model itself.
RUNTIME_FIELDS = frozenset(
    {
        "name", "output_dir", "decoder", "n_prompts", "max_input_tokens", "max_output_tokens",
        "fixed_output_length", "prompts", "measurement", "passthrough_kwargs",
    }
)  # fmt: skip


@functools.cache
def batch_size_field(backend: str) -> str | None:
    """The section field `backend` declares as its batch size (Capabilities.batch_size_field).

    A runtime setting: the core batches prompts by it. An unknown or broken backend gets the contract's
    default."""
    try:
        return get_plugin_manager().backend(backend).capabilities().batch_size_field
    except Exception:
        (default,) = [f.default for f in msgspec.structs.fields(Capabilities) if f.name == "batch_size_field"]
        field: str | None = default
        return field


class Run(msgspec.Struct, kw_only=True, frozen=True):
    """One execution: point `point_id`, repetition `cycle` (1-based)."""

    point_id: str
    cycle: int

    @property
    def id(self) -> str:
        return f"{self.point_id}-c{self.cycle}"


def order_runs(point_ids: Sequence[str], cycles: int, order: Order, seed: int = 0) -> list[Run]:
    """Every (point, cycle) pair in the requested order.

    sequential: p1c1 p1c2 p2c1 p2c2; interleaved: p1c1 p2c1 p1c2 p2c2; shuffled: like interleaved, with the
    points in a seeded random order within each cycle (a different order per cycle, the same one for the same
    seed)."""
    if order == "sequential":
        return [Run(point_id=p, cycle=c) for p in point_ids for c in range(1, cycles + 1)]
    runs: list[Run] = []
    for c in range(1, cycles + 1):
        ids = list(point_ids)
        if order == "shuffled":
            random.Random(f"{seed}:{c}").shuffle(ids)
        runs.extend(Run(point_id=p, cycle=c) for p in ids)
    return runs


def model_key(config: Mapping[str, Any]) -> str:
    """What identifies the loaded model of a resolved config: everything but the runtime settings."""
    backend = config.get("backend")
    runtime = batch_size_field(str(backend)) if backend else None
    kept = {}
    for key, value in config.items():
        if key in RUNTIME_FIELDS:
            continue
        if key == backend and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k != runtime}
        kept[key] = value
    return hashlib.sha256(msgspec.json.encode(kept, order="sorted")).hexdigest()[:16]


def worker_batches(runs: Sequence[Run], keys: Mapping[str, str], reuse_model: bool) -> list[list[Run]]:
    """Split the ordered runs into worker processes: one run each, or (reuse_model) consecutive runs of one
    model."""
    if not reuse_model:
        return [[r] for r in runs]
    batches: list[list[Run]] = []
    for run in runs:
        if batches and keys[batches[-1][-1].point_id] == keys[run.point_id]:
            batches[-1].append(run)
        else:
            batches.append([run])
    return batches
