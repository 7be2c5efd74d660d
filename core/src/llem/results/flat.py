"""Results as flat rows (one dict of scalars per run) for CSV export and side-by-side comparison."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from llem.errors import UserError
from llem.results.load import load_result
from llem.results.schema import ExperimentResult
from llem.results.write import RESULT_FILE

_TOP = (
    "experiment_id",
    "name",
    "status",
    "error",
    "backend",
    "model",
    "config_hash",
    "started_at",
    "finished_at",
)
_BLOCKS = ("metrics", "energy", "timings")
_SKIP = {"energy.devices", "energy.per_device_j"}


def flat_row(result: ExperimentResult, *, config: bool = True) -> dict[str, Any]:
    """The run as one flat dict: top-level fields, metrics.*, energy.*, timings.*, config.* (if config)."""
    data = msgspec.to_builtins(result)
    row: dict[str, Any] = {k: data.get(k) for k in _TOP}
    for block in _BLOCKS:
        row.update({k: v for k, v in _flatten(data.get(block) or {}, f"{block}.") if k not in _SKIP})
    if config:
        row.update(_flatten(data.get("config") or {}, "config."))
    row["notes"] = " | ".join(result.notes)
    return row


def _flatten(data: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, list | dict):
            yield f"{prefix}{key}", msgspec.json.encode(value).decode()
        else:
            yield f"{prefix}{key}", value


def find_results(folder: str | Path) -> list[Path]:
    """Every result folder at or under `folder` (a result folder, a folder of them, or a study folder)."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError("not a folder", source=str(root))
    if (root / RESULT_FILE).is_file():
        return [root]
    found = sorted(p.parent for p in root.rglob(RESULT_FILE) if not p.parent.name.startswith("."))
    if not found:
        raise UserError("no result.json in or under this folder", source=str(root))
    return found


def rows(folders: Iterable[Path]) -> list[dict[str, Any]]:
    """One flat row per result folder, with a `folder` column; columns in first-seen order."""
    out = []
    for folder in folders:
        out.append({"folder": str(folder), **flat_row(load_result(folder))})
    return out
