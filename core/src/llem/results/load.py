"""Read experiment results back."""

from __future__ import annotations

from pathlib import Path

import msgspec

from llem.errors import UserError
from llem.results.schema import SCHEMA_VERSION, ExperimentResult
from llem.results.write import RESULT_FILE


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
