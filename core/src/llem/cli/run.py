"""`llem run CONFIG`: run the experiment (one per request rate of a load section) with progress, then print
its summary and result folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from llem.run.progress import ProgressEvent


@click.command()
@click.argument("config_file", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config field (repeatable)."
)
@click.option(
    "--output", "output_dir", type=click.Path(file_okay=False), help="Folder for the result folder."
)
@click.option(
    "--allow-short-window",
    is_flag=True,
    help="Report per-token energy even for a window shorter than measurement.min_window_periods "
    "counter periods (its uncertainty is large).",
)
@click.option("--json", "as_json", is_flag=True, help="Print result.json to stdout instead of the summary.")
def run(
    config_file: str,
    overrides: tuple[str, ...],
    output_dir: str | None,
    allow_short_window: bool,
    as_json: bool,
) -> None:
    """Run the experiment in CONFIG; write result.json, config.yaml and the timeseries to a new result folder.

    Exit status: 0 ok, 1 the run failed (a result with status failed is written), 2 bad config or flags.
    """
    import msgspec

    from llem.config.resolve import load_experiment
    from llem.plugins.manager import get_plugin_manager
    from llem.results.summary import summary, sweep_table
    from llem.run import run_experiments

    sets = list(overrides)
    if allow_short_window:
        sets.append("measurement.allow_short_window=true")
    plugins = get_plugin_manager()
    config = load_experiment(config_file, overrides=sets, plugins=plugins)
    out = Path(output_dir) if output_dir is not None else Path(config.output_dir)
    display = ProgressDisplay(enabled=not as_json)
    with display:
        results = run_experiments(config, plugins=plugins, output_dir=out, progress=display)
    if as_json:
        payload = results[0] if len(results) == 1 else results
        click.echo(msgspec.json.format(msgspec.json.encode(payload), indent=2).decode())
    else:
        for result in results:
            click.echo(summary(result))
            click.echo(f"result: {out / result.experiment_id}")
        if len(results) > 1:
            click.echo(sweep_table(results))
    failed = [r for r in results if r.status != "ok"]
    for result in failed:
        folder = out / result.experiment_id
        click.echo(
            f"llem: error: the run failed: {result.error} (details in {folder / 'result.json'})", err=True
        )
    if failed:
        raise SystemExit(1)


_STAGE_TEXT = {
    "validate": "validate",
    "build": "build engine",
    "load": "load model",
    "warmup": "warm-up",
    "baseline": "idle baseline",
    "settle": "settle temperature",
    "measure": "measure",
    "unload": "unload",
    "write": "write result",
}


class ProgressDisplay:
    """A rich progress display fed with ProgressEvents; prints nothing when disabled (e.g. --json)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description:<18}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if self._progress is None:
            return
        name = _STAGE_TEXT.get(event.stage, event.stage)
        task = self._tasks.get(event.stage)
        if task is None:
            task = self._progress.add_task(name, total=event.total, detail=event.detail or "")
            self._tasks[event.stage] = task
        fields: dict[str, Any] = {}
        if event.detail is not None:
            fields["detail"] = event.detail
        if event.state == "advance":
            self._progress.update(task, completed=event.current, total=event.total, **fields)
        elif event.state == "done":
            total = event.total if event.total is not None else 1
            completed = event.current if event.current is not None else total
            self._progress.update(task, completed=completed, total=total, **fields)
        elif fields:
            self._progress.update(task, **fields)
