"""Estimate how long a study will take, from earlier measurements where they exist, else from a stated rough
rate."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from llem.models.info import model_info
from llem.study.manifest import MANIFEST, StudyManifest, load_manifest
from llem.study.order import batch_size_field
from llem.study.table import run_rows

# Stated assumptions when nothing has been measured yet (said in the plan's output, never hidden).
ROUGH_OVERHEAD_S = 30.0  # worker start-up, model load, warm-up bookkeeping, baseline: a model of unknown size
ROUGH_START_S = (
    10.0  # worker start-up (torch import), warm-up bookkeeping, baseline: a model of known size ...
)
ROUGH_LOAD_S_PER_GB = 2.0  # ... plus loading its weights
ROUGH_OUTPUT_TOKENS_PER_S = 100.0


def rough_overhead_s(config: Mapping[str, Any]) -> float:
    """The stated guess of a run's time outside generation: start-up plus weight loading where the model's
    size is known (bundled random: architectures), else ROUGH_OVERHEAD_S."""
    try:
        n_params = model_info(str(config.get("model")), local_only=True).n_params
    except Exception:  # a hub id or local path: its size is not known before loading
        return ROUGH_OVERHEAD_S
    bytes_per_param = 4 if config.get("precision") == "fp32" else 2
    return ROUGH_START_S + ROUGH_LOAD_S_PER_GB * n_params * bytes_per_param / 1e9


class Estimate(msgspec.Struct, kw_only=True):
    """Estimated seconds per run of each point, the study total, and what the numbers rest on."""

    per_run_s: dict[str, float]
    total_s: float
    basis: str


def work_tokens(config: Mapping[str, Any]) -> int:
    """Output tokens one run generates: measured prompts plus warm-up batches, at max_output_tokens each."""
    backend = str(config.get("backend", ""))
    section = config.get(backend, None)
    field = batch_size_field(backend) if backend else None
    batch = (section.get(field) if isinstance(section, Mapping) and field else None) or 1
    measurement = config.get("measurement") or {}
    warmup = measurement.get("warmup_batches", 0) or 0
    return (int(config.get("n_prompts", 1)) + int(warmup) * int(batch)) * int(
        config.get("max_output_tokens", 1)
    )


def previous_rows(folders: Iterable[Path]) -> list[dict[str, Any]]:
    """Ok run rows of earlier studies (any folder holding a study.json)."""
    rows: list[dict[str, Any]] = []
    for folder in folders:
        if not (folder / MANIFEST).is_file():
            continue
        try:
            manifest = load_manifest(folder)
        except Exception:  # an unreadable old study only means less history
            continue
        rows += [r for r in run_rows(folder, manifest) if r["status"] == "ok" and r.get("wall_s")]
    return rows


def estimate(
    manifest: StudyManifest,
    history: list[dict[str, Any]],
    *,
    overhead_s: float | None = None,
    output_tokens_per_s: float | None = None,
) -> Estimate:
    """Per-point run time: the mean measured wall time of the same config where known; otherwise overhead plus
    generated tokens at a rate measured on the same model and backend, or the stated rough rate."""
    by_hash: dict[str, list[float]] = {}
    for r in history:
        by_hash.setdefault(r["config_hash"], []).append(float(r["wall_s"]))
    rates: dict[tuple[Any, Any], tuple[float, float]] = {}
    for key in {(r["backend"], r["model"]) for r in history}:
        mine = [
            r
            for r in history
            if (r["backend"], r["model"]) == key and r.get("window_s") and r.get("output_tokens")
        ]
        if mine:
            tps = sum(r["output_tokens"] for r in mine) / sum(r["window_s"] for r in mine)
            over = sum(max(0.0, r["wall_s"] - r["window_s"]) for r in mine) / len(mine)
            rates[key] = (tps, over)
    per_run: dict[str, float] = {}
    kinds = set()
    for p in manifest.points:
        if p.config_hash in by_hash and overhead_s is None and output_tokens_per_s is None:
            per_run[p.id] = sum(by_hash[p.config_hash]) / len(by_hash[p.config_hash])
            kinds.add("measured")
            continue
        key = (p.config.get("backend"), p.config.get("model"))
        if key in rates and overhead_s is None and output_tokens_per_s is None:
            tps, over = rates[key]
            kinds.add("rate")
        else:
            tps = output_tokens_per_s or ROUGH_OUTPUT_TOKENS_PER_S
            over = rough_overhead_s(p.config) if overhead_s is None else overhead_s
            kinds.add("rough")
        per_run[p.id] = over + work_tokens(p.config) / tps
    # A run never outlasts timeout_s: its worker is killed then.
    timeout_s = manifest.study.get("timeout_s")
    capped = False
    if isinstance(timeout_s, int | float):
        for pid, seconds in per_run.items():
            if seconds > timeout_s:
                per_run[pid], capped = float(timeout_s), True
    total = sum(per_run[r.point_id] for r in manifest.runs if r.status not in ("ok", "failed"))
    basis = _basis(kinds, overhead_s, output_tokens_per_s)
    if capped:
        basis += f"; runs estimated longer than timeout_s counted as {timeout_s:g} s (they would be killed)"
    return Estimate(per_run_s=per_run, total_s=total, basis=basis)


def _basis(kinds: set[str], overhead_s: float | None, tps: float | None) -> str:
    parts = []
    if "measured" in kinds:
        parts.append("mean wall time of earlier runs of the same config")
    if "rate" in kinds:
        parts.append("tokens/s and overhead measured earlier on the same model and backend")
    if "rough" in kinds:
        over = (
            f"{overhead_s:g} s"
            if overhead_s is not None
            else f"{ROUGH_START_S:g} s + {ROUGH_LOAD_S_PER_GB:g} s per GB of weights "
            f"({ROUGH_OVERHEAD_S:g} s if the size is unknown)"
        )
        rate = tps or ROUGH_OUTPUT_TOKENS_PER_S
        given = (
            " (given)"
            if overhead_s is not None or tps is not None
            else " (a rough guess: nothing measured yet)"
        )
        parts.append(f"{over} per experiment + generated tokens at {rate:g} tokens/s{given}")
    return "; ".join(parts)
