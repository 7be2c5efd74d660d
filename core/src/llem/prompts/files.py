"""Prompts from a local file: JSON Lines (one object per line, text under `field`) or text (one per line)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from llem.errors import UserError

if TYPE_CHECKING:
    from llem.config.prompts import FilePrompts


def read_prompt_file(spec: FilePrompts) -> list[str]:
    """The prompt texts of the file, in order; blank lines are skipped."""
    path = Path(spec.path)
    fmt = spec.format or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "text")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("prompts.path: no such file", source=str(path)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise UserError(f"prompts.path: cannot read ({type(exc).__name__})", source=str(path)) from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if fmt == "text":
        texts = [line for _, line in lines]
    else:
        texts = [_jsonl_prompt(line, i, spec.field, path) for i, line in lines]
    if not texts:
        raise UserError("prompts.path: the file holds no prompts", source=str(path))
    return texts


def _jsonl_prompt(line: str, lineno: int, field: str, path: Path) -> str:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"line {lineno}: invalid JSON ({exc.msg})", source=str(path)) from None
    if not isinstance(obj, dict) or field not in obj:
        raise UserError(
            f"line {lineno}: no field {field!r} (set prompts.field to the key holding the prompt)",
            source=str(path),
        )
    value = obj[field]
    if not isinstance(value, str) or not value:
        raise UserError(f"line {lineno}: field {field!r} is not a non-empty string", source=str(path))
    return value
