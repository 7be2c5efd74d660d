"""`llem config validate|show` and `llem schema`."""

from __future__ import annotations

import json

import click

from llem.cli.output import echo_json


@click.group()
def config() -> None:
    """Validate and inspect experiment configs."""


@config.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a field (repeatable).")
def validate(files: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Validate config FILES; each problem is one line naming the file and path. Exit 2 if any is invalid.

    A study file (one with a `base:` section) is planned as `llem study plan` does: it is ok when at least one
    experiment is left to run on this machine.
    """
    from llem.config.load import read_file
    from llem.config.resolve import load_experiment
    from llem.errors import ConfigError, UserError
    from llem.plugins.manager import get_plugin_manager

    plugins = get_plugin_manager()
    bad = 0
    for f in files:
        try:
            if "base" in read_file(f):
                click.echo(f"{f}: ok ({_validate_study(f, overrides, plugins)})")
                continue
            load_experiment(f, overrides=overrides, plugins=plugins)
        except ConfigError as exc:
            bad += 1
            click.echo(str(exc) if exc.source else f"{f}: {exc}", err=True)
            continue
        except UserError as exc:
            bad += 1
            click.echo(f"{f}: {exc}", err=True)
            continue
        click.echo(f"{f}: ok")
    if bad:
        raise SystemExit(2)


def _validate_study(path: str, overrides: tuple[str, ...], plugins: object) -> str:
    """Plan the study at `path` for this machine; a one-line summary, or UserError if nothing can run."""
    from llem.errors import UserError
    from llem.study.api import plan

    if overrides:
        raise UserError("--set applies to experiment configs; put a study's settings in its file")
    manifest = plan(path, plugins=plugins)  # type: ignore[arg-type]
    if not manifest.points:
        reasons = sorted({p.reason for p in manifest.pruned})
        raise UserError(f"every experiment of the study is pruned here: {'; '.join(reasons)}")
    return f"study: {len(manifest.points)} experiments, {len(manifest.pruned)} pruned on this machine"


@config.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a field (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
def show(file: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Print the fully resolved config (every default filled in) and its hash."""
    import yaml

    from llem.config.resolve import config_hash, load_experiment, to_dict

    cfg = load_experiment(file, overrides=overrides)
    data = to_dict(cfg)
    if as_json:
        echo_json({"config_hash": config_hash(cfg), "config": data})
    else:
        click.echo(f"# config_hash: {config_hash(cfg)}")
        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


@click.command()
def schema() -> None:
    """Print the JSON Schema of the experiment config for the installed backends (for editors)."""
    from llem.config.schema import json_schema
    from llem.plugins.manager import get_plugin_manager

    click.echo(json.dumps(json_schema(get_plugin_manager().experiment_type()), indent=2))


@config.command("reference")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (atomically).")
def reference(output: str | None) -> None:
    """Print (or write) the Markdown config reference generated from the installed backends' Structs."""
    from llem.config.reference import render_config_reference
    from llem.files import write_text_atomic
    from llem.plugins.manager import get_plugin_manager

    text = render_config_reference(get_plugin_manager())
    if output:
        write_text_atomic(output, text)
    else:
        click.echo(text, nl=False)
