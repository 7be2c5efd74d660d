"""`llem config validate|show` and `llem schema`."""

from __future__ import annotations

import json

import click
import yaml

from llem.checks import check_file
from llem.cli.output import echo_json
from llem.config.reference import render_config_reference
from llem.config.resolve import config_hash, load_experiment, to_dict
from llem.config.schema import json_schema
from llem.files import write_text_atomic
from llem.measure.devices import detect_devices
from llem.plugins.manager import get_plugin_manager


@click.group()
def config() -> None:
    """Validate and inspect experiment configs."""


@config.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a field (repeatable).")
def validate(files: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Validate experiment or study FILES exactly as `llem run` / `llem study plan` do before loading anything
    (schema, model name, GPU requirements, backend capabilities, the backend's own checks); each problem is
    one line naming the file and path. Exit 2 if any is invalid."""
    plugins = get_plugin_manager()
    device = detect_devices()
    bad = 0
    for f in files:
        found = check_file(f, overrides=overrides, plugins=plugins, device=device)
        for problem in found.problems:
            click.echo(problem, err=True)
        bad += bool(found.problems)
        if not found.problems:
            click.echo(f"{f}: {found.summary}")
    if bad:
        raise SystemExit(2)


@config.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a field (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
def show(file: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Print the fully resolved config (every default filled in) and its hash."""
    cfg = load_experiment(file, overrides=overrides, plugins=get_plugin_manager())
    data = to_dict(cfg)
    if as_json:
        echo_json({"config_hash": config_hash(cfg), "config": data})
    else:
        click.echo(f"# config_hash: {config_hash(cfg)}")
        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


@click.command()
def schema() -> None:
    """Print the JSON Schema of the experiment config for the installed backends (for editors)."""
    click.echo(json.dumps(json_schema(get_plugin_manager().experiment_type()), indent=2))


@config.command("reference")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (atomically).")
def reference(output: str | None) -> None:
    """Print (or write) the Markdown config reference generated from the installed backends' Structs."""
    text = render_config_reference(get_plugin_manager())
    if output:
        write_text_atomic(output, text)
    else:
        click.echo(text, nl=False)
