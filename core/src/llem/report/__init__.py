"""Reports over study folders: a self-contained HTML page with plots (matplotlib is an optional extra)."""

from __future__ import annotations

from typing import Any

__all__ = ["render_report"]


def __getattr__(name: str) -> Any:
    if name == "render_report":
        from llem.report.html import render_report

        return render_report
    raise AttributeError(f"module 'llem.report' has no attribute {name!r}")
