"""`llem results export DIR` and `llem compare A B`: results as a table, and two runs side by side."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click

from llem.cli.output import table
from llem.errors import UserError
from llem.files import write_text_atomic
from llem.results.compare import compare as compare_runs
from llem.results.flat import find_results, rows
from llem.results.load import load_result
from llem.results.summary import fmt


@click.group()
def results() -> None:
    """Work with result folders: export them as one table."""


@results.command("export")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--csv", "as_csv", is_flag=True, help="CSV, one row per run (the default format).")
@click.option("--json", "as_json", is_flag=True, help="JSON: a list of rows instead of CSV.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file (atomically).")
@click.option("--no-config", is_flag=True, help="Leave out the config.* columns.")
def export(folder: str, as_csv: bool, as_json: bool, output: str | None, no_config: bool) -> None:
    """Every result under FOLDER (a result folder, a folder of them, or a study folder) as one table:
    metrics.*, energy.*, timings.* and config.* columns. Missing values are empty, never 0."""
    if as_csv and as_json:
        raise click.UsageError("--csv and --json exclude each other")
    table = rows(find_results(folder))
    if no_config:
        table = [{k: v for k, v in r.items() if not k.startswith("config.")} for r in table]
    text = json.dumps(table, indent=2) + "\n" if as_json else _csv(table)
    if output:
        try:
            write_text_atomic(output, text)
        except OSError as exc:
            raise UserError(f"cannot write: {exc.strerror or exc}", source=output) from None
        click.echo(f"{len(table)} run{'s' if len(table) != 1 else ''} written to {output}", err=True)
    else:
        click.echo(text, nl=False)


def _csv(table: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for r in table for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in table:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


@click.command()
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(a: str, b: str, as_json: bool) -> None:
    """Compare two single runs (result folders or result.json files): B against A, metric by metric, and the
    config fields in which they differ."""
    c = compare_runs(load_result(a), load_result(b))
    if as_json:
        data = {
            "a": c.a.experiment_id,
            "b": c.b.experiment_id,
            "metrics": c.rows,
            "config_differences": {k: list(v) for k, v in c.config_differences.items()},
            "warnings": c.warnings,
        }
        click.echo(json.dumps(data, indent=2))
        return

    def show(v: Any) -> str:
        return "—" if v is None else fmt(v) if isinstance(v, float) else str(v)

    click.echo(f"A: {c.a.experiment_id}\nB: {c.b.experiment_id}\n")
    body = [
        [r["label"], show(r["a"]), show(r["b"]), f"{r['ratio']:.3f}×" if r["ratio"] is not None else "—",
         {"a": "A", "b": "B", "same": "="}.get(r["better"] or "", "")]
        for r in c.rows
    ]  # fmt: skip
    click.echo(table(["metric", "A", "B", "B / A", "better"], body))
    if c.config_differences:
        click.echo("\nconfig differences:")
        diff = [[k, show(va), show(vb)] for k, (va, vb) in c.config_differences.items()]
        click.echo(table(["field", "A", "B"], diff))
    else:
        click.echo("\nsame config (same config hash)" if c.a.config_hash == c.b.config_hash else "")
    for w in c.warnings:
        click.echo(f"note: {w}")
