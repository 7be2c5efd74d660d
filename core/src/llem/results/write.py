"""Write an experiment folder atomically: everything is staged in a hidden folder, then renamed into place.

A crash before the rename leaves only a hidden `.staging-*` folder (removed on any Python-level failure),
never a half-written result folder; each file is also written through a temp file + os.replace.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import yaml

from llem.files import UMASK, fallback_dir, write_bytes_atomic
from llem.results.schema import ExperimentResult

RESULT_FILE = "result.json"
CONFIG_FILE = "config.yaml"
STAGING_PREFIX = ".staging-"


def experiment_id(name: str | None, model: str, backend: str, config_hash: str, when: datetime) -> str:
    """`<name or model-backend>-<UTC timestamp>-<hash8>`, safe as a folder name."""
    stem = name or f"{model}-{backend}"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "experiment"
    return f"{stem}-{when.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{config_hash[:8]}"


def import_parquet() -> tuple[Any, Any] | None:
    """(pyarrow, pyarrow.parquet), or None without pyarrow (timeseries are then CSV).

    A study's spare worker calls it ahead, so the workers forked from it write their first result without
    paying the import (0.3-0.9 s on an H200 host)."""
    try:
        # deferred: pyarrow is optional and heavy (CSV without it)
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    return pa, pq


def timeseries_bytes(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> tuple[str, bytes]:
    """(file name, content) of the timeseries: Parquet when pyarrow is importable, else CSV."""
    parquet = import_parquet()
    if parquet is None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
        return "timeseries.csv", buf.getvalue().encode("utf-8")
    pa, pq = parquet
    table = pa.table({c: [_cell(r.get(c)) for r in rows] for c in columns})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return "timeseries.parquet", sink.getvalue().to_pybytes()


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple | dict):
        return msgspec.json.encode(value).decode()
    return value


def write_experiment(
    output_dir: Path,
    result: ExperimentResult,
    *,
    timeseries: tuple[Sequence[Mapping[str, Any]], Sequence[str]] | None,
) -> Path:
    """Write result.json, config.yaml and the timeseries to output_dir/<experiment_id>; returns the folder."""
    output_dir.mkdir(parents=True, exist_ok=True)
    final = _free_name(output_dir, result.experiment_id)
    result.experiment_id = final.name
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{final.name}-", dir=output_dir))
    try:
        files: dict[str, str] = {"config": CONFIG_FILE}
        write_bytes_atomic(
            staging / CONFIG_FILE,
            (
                f"# config_hash: {result.config_hash}\n" + yaml.safe_dump(result.config, sort_keys=False)
            ).encode(),
        )
        if timeseries is not None:
            fname, blob = timeseries_bytes(*timeseries)
            write_bytes_atomic(staging / fname, blob)
            files["timeseries"] = fname
        result.files = files
        write_bytes_atomic(staging / RESULT_FILE, msgspec.json.format(msgspec.json.encode(result), indent=2))
        os.chmod(staging, 0o755 & ~UMASK)  # mkdtemp makes it 0700; a result folder is for sharing
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def write_experiment_or_fallback(
    output_dir: Path,
    result: ExperimentResult,
    *,
    timeseries: tuple[Sequence[Mapping[str, Any]], Sequence[str]] | None,
) -> Path:
    """write_experiment, and if output_dir cannot be written (full disk, removed folder, read-only mount),
    the same folder under fallback_dir() with a note saying why: a finished measurement is never lost."""
    try:
        return write_experiment(output_dir, result, timeseries=timeseries)
    except OSError as exc:
        spare = fallback_dir()
        if spare.resolve() == output_dir.resolve():
            raise
        reason = " ".join(str(exc).split())
        result.notes.append(
            f"could not write the result under {output_dir} ({reason}); saved under {spare} instead"
        )
        return write_experiment(spare, result, timeseries=timeseries)


def _free_name(output_dir: Path, stem: str) -> Path:
    candidate = output_dir / stem
    n = 2
    while candidate.exists():
        candidate = output_dir / f"{stem}-{n}"
        n += 1
    return candidate
