"""`llem run CONFIG`: run the experiment (one per request rate of a load section) with progress, then print
its summary and result folder."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click
import msgspec

from llem.config.resolve import load_experiment
from llem.errors import UserError
from llem.files import writable_dir_problem
from llem.measure.devices import detect_devices
from llem.plugins.manager import get_plugin_manager
from llem.plugins.validate import validate_experiment
from llem.results.summary import summary, sweep_table
from llem.run import run_experiments
from llem.run.capture import LOG_FILE, engine_output_to, last_error_line

if TYPE_CHECKING:
    from llem.run.progress import ProgressEvent


@click.command()
@click.argument("config_file", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config field (repeatable)."
)
@click.option(
    "-o", "--output", "output_dir", type=click.Path(file_okay=False), help="Folder for the result folder."
)
@click.option(
    "--allow-short-window",
    is_flag=True,
    help="Report per-token energy even for a window shorter than measurement.min_window_periods "
    "counter periods (its uncertainty is large).",
)
@click.option("--json", "as_json", is_flag=True, help="Print result.json to stdout instead of the summary.")
@click.option(
    "-q", "--quiet", is_flag=True, help="Print only the result folder (and errors): no progress, no summary."
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Let the engine's own output (logging, warnings) reach the terminal, not the result's run.log.",
)
def run(
    config_file: str,
    overrides: tuple[str, ...],
    output_dir: str | None,
    allow_short_window: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Run the experiment in CONFIG; write result.json, config.yaml and the timeseries to a new result folder.

    What the engine prints goes to run.log in the result folder (--verbose: to the terminal).
    Exit status: 0 ok, 1 the run failed (a result with status failed is written), 2 bad config or flags.
    """
    # Before any plugin or model loads: a finished run must never meet an unwritable folder at the end.
    if output_dir is not None and (problem := writable_dir_problem(output_dir)) is not None:
        raise UserError(f"--output is not writable: {problem}")
    sets = list(overrides)
    if allow_short_window:
        sets.append("measurement.allow_short_window=true")
    plugins = get_plugin_manager()
    config = load_experiment(config_file, overrides=sets, plugins=plugins)
    # The static checks, before the progress display starts: a config that cannot run prints one line only.
    problems = validate_experiment(config, detect_devices(), plugins)
    if problems:
        raise UserError(f"this config cannot run here: {'; '.join(problems)}", source=config_file)
    out = Path(output_dir) if output_dir is not None else Path(config.output_dir)
    if output_dir is None and (problem := writable_dir_problem(out)) is not None:
        raise UserError(f"output folder is not writable: {problem}")
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    log_dir = None if verbose else Path(tempfile.mkdtemp(prefix="llem-run-"))
    log = log_dir / LOG_FILE if log_dir is not None else None
    display = ProgressDisplay(enabled=not (as_json or quiet))
    try:
        with contextlib.ExitStack() as stack:
            if log is not None:
                display.stream = stack.enter_context(engine_output_to(log))
            stack.enter_context(display)
            results = run_experiments(config, plugins=plugins, output_dir=out, progress=display)
    finally:
        # The log joins the (last) result folder whenever one was written (also when the run was interrupted).
        if log is not None and display.written is not None and log.is_file():
            with contextlib.suppress(OSError):
                shutil.move(log, display.written / LOG_FILE)
                log = display.written / LOG_FILE
        if log_dir is not None:
            shutil.rmtree(log_dir, ignore_errors=True)
    folders = {f.name: f for f in display.folders}
    for result in results:
        folder = folders.get(result.experiment_id, out / result.experiment_id)
        if folder.parent.resolve() != out.resolve():
            click.echo(
                f"llem: warning: could not write under {out}; the result was saved to {folder}", err=True
            )
    if as_json:
        payload = results[0] if len(results) == 1 else results
        click.echo(msgspec.json.format(msgspec.json.encode(payload), indent=2).decode())
    else:
        for result in results:
            if not quiet:
                click.echo(summary(result))
            click.echo(f"result: {folders.get(result.experiment_id, out / result.experiment_id)}")
        if len(results) > 1 and not quiet:
            click.echo(sweep_table(results))
    failed = [r for r in results if r.status != "ok"]
    for result in failed:
        folder = folders.get(result.experiment_id, out / result.experiment_id)
        error = result.error or "unknown error"
        cause = last_error_line(log) if log is not None and "root cause above" in error.lower() else None
        if cause:
            error = f"{error.rstrip('. ')}: {cause}"
        details = f"{folder / 'result.json'}" + (f", {log}" if log is not None else "")
        click.echo(f"llem: error: the run failed: {error} (details in {details})", err=True)
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

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream  # where the display goes (default: stderr)
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self.written: Path | None = None  # the last result folder, from the "write" done events
        self.folders: list[Path] = []  # every result folder written (one per request rate of a serving sweep)

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            # deferred: rich costs ~0.1 s at start-up; only a terminal progress display needs it
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
                console=Console(file=self.stream) if self.stream is not None else Console(stderr=True),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._progress is not None:
            if exc_type is not None:  # refused or crashed: the error line alone says what happened
                for task in list(self._progress.task_ids):
                    self._progress.remove_task(task)
            self._progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == "write" and event.state == "done" and event.detail:
            self.written = Path(event.detail)
            self.folders.append(self.written)
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
