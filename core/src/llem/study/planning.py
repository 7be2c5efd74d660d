"""Plan a study without running it: expand, order the runs, and build the manifest a run starts from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from llem.study.config import StudyConfig
from llem.study.expand import expand_study
from llem.study.manifest import RunRecord, StudyManifest, now_iso
from llem.study.order import order_runs
from llem.version import __version__

if TYPE_CHECKING:
    from llem.plugins.manager import LlemPlugins
    from llem.plugins.types import DeviceInfo


def plan_study(
    study: StudyConfig,
    base: dict[str, Any],
    *,
    plugins: LlemPlugins,
    device: DeviceInfo,
    study_file: str | Path | None = None,
) -> StudyManifest:
    """The study's manifest before anything runs: points, pruned combinations, duplicates and the ordered
    runs."""
    expansion = expand_study(study, base, plugins=plugins, device=device)
    runs = order_runs([p.id for p in expansion.points], study.cycles, study.order, study.seed)
    name = study.name or (Path(study_file).stem if study_file else "study")
    created = now_iso()
    return StudyManifest(
        llem_version=__version__,
        name=name,
        study_file=str(Path(study_file).resolve()) if study_file else None,
        created_at=created,
        updated_at=created,
        study=msgspec.to_builtins(study),
        base=base,
        device=_device_summary(device),
        varied=expansion.varied,
        points=expansion.points,
        pruned=expansion.pruned,
        duplicates=expansion.duplicates,
        runs=[RunRecord(id=r.id, point_id=r.point_id, cycle=r.cycle) for r in runs],
    )


def _device_summary(device: DeviceInfo) -> dict[str, Any]:
    return {
        "gpus": [{"index": g.index, "name": g.name, "compute_capability": g.cc} for g in device.gpus],
        "min_compute_capability": device.min_cc,
    }
