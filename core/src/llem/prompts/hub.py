"""Prompts from a Hugging Face dataset, through the optional `datasets` package."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.errors import UserError

if TYPE_CHECKING:
    from llem.config.prompts import DatasetPrompts


def read_dataset(spec: DatasetPrompts, *, limit: int) -> list[str]:
    """Up to `limit` non-empty texts from `spec.column` (streamed: only what is needed is downloaded)."""
    try:
        # deferred: optional and heavy; only dataset prompts need it
        import datasets
    except ImportError:
        raise UserError(
            "prompts.source: dataset needs the `datasets` package (pip install datasets), or use source: file"
        ) from None
    try:
        ds = datasets.load_dataset(spec.id, spec.subset, split=spec.split, streaming=True)
    except Exception as exc:
        raise UserError(
            f"prompts.id: cannot load dataset {spec.id!r} ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    texts: list[str] = []
    for row in ds:
        if spec.column not in row:
            raise UserError(
                f"prompts.column: dataset {spec.id!r} has no column {spec.column!r} ({', '.join(row)})"
            )
        value = row[spec.column]
        if isinstance(value, str) and value.strip():
            texts.append(value)
        if len(texts) >= limit:
            break
    return texts


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
