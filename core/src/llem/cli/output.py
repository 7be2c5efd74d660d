"""Plain-text output helpers for the CLI (no rich import on fast paths)."""

from __future__ import annotations

import json
from typing import Any

import click

from llem.text import table

__all__ = ["echo_json", "table"]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
