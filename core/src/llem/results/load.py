"""Read experiment results back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from llem.errors import UserError
from llem.results.schema import SCHEMA_VERSION, ExperimentResult
from llem.results.write import RESULT_FILE

# The study manifest's file name (llem.study.manifest writes it; named here so results never imports study).
STUDY_FILE = "study.json"


def load_result(path: str | Path) -> ExperimentResult:
    """The ExperimentResult in a result folder (or a result.json path); a UserError if unreadable."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULT_FILE
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UserError("no result.json here", source=str(p)) from None
    try:
        version = msgspec.json.decode(data, type=_Version).schema_version
    except msgspec.DecodeError as exc:
        raise UserError(f"not a llem result ({exc})", source=str(p)) from None
    if version > SCHEMA_VERSION:
        raise UserError(
            f"result schema_version {version} is newer than this llem reads ({SCHEMA_VERSION}); "
            "upgrade llem-core",
            source=str(p),
        )
    try:
        return msgspec.json.decode(data, type=ExperimentResult)
    except msgspec.DecodeError as exc:
        raise UserError(f"not a llem result ({exc})", source=str(p)) from None


class _Version(msgspec.Struct):
    schema_version: int = 0


def load(folder: str | Path) -> Any:
    """A result folder as its ExperimentResult; a study folder as a pandas DataFrame, one row per run.

    The study table is the study's summary/runs.parquet (or .csv), written whenever a study run ends or is
    interrupted; `llem.study.load(folder)` rebuilds it (and the aggregate) from the runs themselves.
    """
    p = Path(folder)
    if (p / RESULT_FILE).is_file() or p.name == RESULT_FILE:
        return load_result(p)
    if not (p / STUDY_FILE).is_file():
        raise UserError(
            "neither a result folder (result.json) nor a study folder (study.json)", source=str(p)
        )
    try:
        # deferred: pandas is optional and heavy; only a study folder needs it
        import pandas as pd
    except ImportError:
        raise UserError("loading a study needs pandas: pip install 'llem-core[report]'") from None
    summary = p / "summary"
    if (summary / "runs.parquet").is_file():
        try:
            return pd.read_parquet(summary / "runs.parquet")
        except ImportError:
            pass  # pandas without a parquet engine: the CSV has the same table
    if (summary / "runs.csv").is_file():
        return pd.read_csv(summary / "runs.csv")
    raise UserError(
        "this study has no summary/runs table yet (it was killed?): llem.study.load(folder) reads its runs",
        source=str(p),
    )
