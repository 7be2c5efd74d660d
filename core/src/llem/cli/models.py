"""`llem models`: the bundled random-weight architectures."""

from __future__ import annotations

from typing import Any

import click

from llem.cli.output import echo_json, table
from llem.models import list_architectures, model_info


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models(as_json: bool) -> None:
    """List bundled architectures usable as model: random:NAME (random weights, no download)."""
    rows: list[dict[str, Any]] = []
    for name, description in list_architectures().items():
        info = model_info(f"random:{name}")
        rows.append({"model": f"random:{name}", "n_params": info.n_params, "description": description})
    if as_json:
        echo_json(rows)
        return
    shown = [(r["model"], f"{r['n_params'] / 1e6:,.1f} M", r["description"]) for r in rows]
    click.echo(table(["model", "parameters", "description"], shown))
