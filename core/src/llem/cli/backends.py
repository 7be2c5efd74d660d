"""`llem backends`: list installed backends, show one's parameters, print the capability matrix."""

from __future__ import annotations

import click
import msgspec

from llem.cli.output import echo_json, table
from llem.config.introspect import ParamInfo, get_backend_params
from llem.plugins.manager import PluginStatus, get_plugin_manager
from llem.plugins.matrix import get_capability_matrix_markdown
from llem.plugins.runtime import missing_runtime


@click.group()
def backends() -> None:
    """Installed backends, their parameters and capabilities."""


@backends.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_(as_json: bool) -> None:
    """List installed backend plugins with their status (ok / broken or conflict, with why / disabled)."""
    plugins = get_plugin_manager()
    statuses = sorted(plugins.statuses.values(), key=lambda s: s.name)
    missing = {
        s.name: missing_runtime(plugins, s.backend) for s in statuses if s.status == "ok" and s.backend
    }
    if as_json:
        echo_json([{**msgspec.to_builtins(s), "runtime_missing": missing.get(s.name, [])} for s in statuses])
        return
    if not statuses:
        click.echo("No backends installed. Install one, e.g. pip install llem-pytorch")
        return

    def shown(s: PluginStatus) -> str:
        gone = missing.get(s.name)
        return f"schema only ({', '.join(gone)} not installed)" if gone else s.status

    rows = [(s.name, s.version, s.distribution, shown(s), s.error or "") for s in statuses]
    click.echo(table(["name", "version", "distribution", "status", "error"], rows))


@backends.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def show(name: str, as_json: bool) -> None:
    """Show every parameter of backend NAME: type, default, allowed values, description."""
    params = get_backend_params(name, get_plugin_manager())
    if as_json:
        echo_json({path: msgspec.to_builtins(p) for path, p in params.items()})
        return
    rows = []
    for p in params.values():
        allowed = ", ".join(map(str, p.allowed_values)) if p.allowed_values else _bounds(p)
        rows.append((p.path, p.type + (" | None" if p.nullable else ""), p.default, allowed, p.description))
    click.echo(table(["parameter", "type", "default", "allowed", "description"], rows))


def _bounds(p: ParamInfo) -> str:
    parts = []
    for op, value in (("≥", p.ge), (">", p.gt), ("≤", p.le), ("<", p.lt)):
        if value is not None:
            parts.append(f"{op} {value}")
    return " ".join(parts)


@backends.command("matrix")
def matrix() -> None:
    """Print the capability matrix of the installed backends (Markdown)."""
    click.echo(get_capability_matrix_markdown(get_plugin_manager()), nl=False)
