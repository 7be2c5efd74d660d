"""`llem report DIR`: render a study folder as a self-contained HTML report."""

from __future__ import annotations

from pathlib import Path

import click

from llem.errors import UserError
from llem.files import writable_dir_problem
from llem.report.html import render_report


@click.command()
@click.argument("study_dir", type=click.Path(file_okay=False))
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="HTML file to write (default: DIR/report.html)."
)
@click.option(
    "--runs",
    "runs",
    help="Comma-separated run ids whose power timeseries to plot (default: the first "
    "run of each configuration on the Pareto front, at most four).",
)
def report(study_dir: str, output: str | None, runs: str | None) -> None:
    """Render STUDY_DIR (a `llem study run` folder) as HTML: Pareto front, per-parameter plots, power over
    time."""
    target = Path(output) if output else Path(study_dir) / "report.html"
    if (problem := writable_dir_problem(target.parent)) is not None:
        raise UserError(f"cannot write the report: {problem}")
    chosen = [r.strip() for r in runs.split(",") if r.strip()] if runs else None
    try:
        path = render_report(study_dir, power_runs=chosen, output=output)
    except OSError as exc:
        raise UserError(f"cannot write the report {target}: {exc.strerror or exc}") from None
    click.echo(f"report: {path}")
