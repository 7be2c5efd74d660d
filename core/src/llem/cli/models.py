"""`llem models`: the bundled random-weight architectures."""

from __future__ import annotations

import click

from llem.cli.output import table


@click.command()
def models() -> None:
    """List bundled architectures usable as model: random:NAME (random weights, no download)."""
    from llem.models import list_architectures, model_info

    rows = []
    for name, description in list_architectures().items():
        info = model_info(f"random:{name}")
        rows.append((f"random:{name}", f"{info.n_params / 1e6:,.1f} M", description))
    click.echo(table(["model", "parameters", "description"], rows))
