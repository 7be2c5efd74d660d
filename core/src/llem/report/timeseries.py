"""Read an experiment's telemetry timeseries (Parquet or CSV) for plotting."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from llem.study.table import read_result


def read_timeseries(result_dir: Path) -> list[dict[str, Any]]:
    """Rows of the result folder's timeseries file (empty when none was recorded)."""
    result = read_result(result_dir / "result.json") or {}
    name = (result.get("files") or {}).get("timeseries")
    candidates = [name] if name else ["timeseries.parquet", "timeseries.csv"]
    for candidate in candidates:
        path = result_dir / candidate
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            try:
                # deferred: pyarrow is optional and heavy
                import pyarrow.parquet as pq
            except ImportError:
                return []
            rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
            return rows
        with path.open(newline="") as f:
            return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    return []


def _number(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text
