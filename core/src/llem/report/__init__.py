"""Reports over study folders: a self-contained HTML page with plots (matplotlib is an optional extra)."""

from llem.report.html import render_report

__all__ = ["render_report"]
