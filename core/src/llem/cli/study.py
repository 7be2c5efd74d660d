"""`llem study plan|run|status`: expand a study without running it; run or resume it; show its state."""

from __future__ import annotations

from pathlib import Path

import click
import msgspec
import yaml

from llem.errors import UserError
from llem.study.api import plan as plan_study
from llem.study.api import run as run_study
from llem.study.estimate import estimate, previous_rows
from llem.study.render import ProgressView, plan_text
from llem.study.runner import StudyInterrupted
from llem.study.status import render_status, study_status
from llem.study.table import aggregate_rows, run_rows


@click.group()
def study() -> None:
    """Sweeps of experiments: plan them, run them (each in its own process), resume them."""


@study.command("plan")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False),
    help="A folder of an earlier run of this study: its measured times replace the rough estimate.",
)
@click.option(
    "--overhead-s", type=float, help="Assumed seconds per experiment outside generation (estimate)."
)
@click.option("--tokens-per-s", type=float, help="Assumed output tokens per second (estimate).")
@click.option("--json", "as_json", is_flag=True, help="Print the planned manifest as JSON.")
def plan(
    file: str, output: str | None, overhead_s: float | None, tokens_per_s: float | None, as_json: bool
) -> None:
    """Show what FILE expands to on this machine: experiments, pruned points and why, duplicates, duration."""
    manifest = plan_study(file)
    base_dir = Path(str(manifest.study.get("output_dir", "studies")))
    folders = sorted(base_dir.glob(f"{manifest.name}-*")) if base_dir.is_dir() else []
    folders += [Path(output)] if output else []
    est = estimate(manifest, previous_rows(folders), overhead_s=overhead_s, output_tokens_per_s=tokens_per_s)
    if as_json:
        data = msgspec.to_builtins(manifest)
        data["estimate"] = msgspec.to_builtins(est)
        click.echo(msgspec.json.format(msgspec.json.encode(data), indent=2))
    else:
        click.echo(plan_text(manifest, est))
    if not manifest.points:
        reasons = sorted({p.reason for p in manifest.pruned})
        raise UserError(
            f"every experiment of the study is pruned on this machine: {'; '.join(reasons)}", source=file
        )


@study.command("run")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Study folder to create (default: a timestamped folder under the study's output_dir).",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False),
    help="Continue the study in this folder; completed runs are not run again (FILE is then optional).",
)
@click.option("--retry-failed", is_flag=True, help="With --resume: run failed experiments again too.")
@click.option("--json", "as_json", is_flag=True, help="At the end, print the study's manifest as JSON.")
@click.option(
    "--executor",
    type=click.Choice(["local", "slurm"]),
    help="Where experiments run (overrides the study file's executor; default local).",
)
@click.option("--partition", help="SLURM partition (slurm.partition).")
@click.option("--account", help="SLURM account (slurm.account).")
@click.option("--qos", help="SLURM quality of service (slurm.qos).")
@click.option("--constraint", help="SLURM node constraint (slurm.constraint).")
@click.option(
    "--sbatch",
    "sbatch",
    multiple=True,
    metavar="NAME=VALUE",
    help="Extra sbatch option (repeatable), e.g. --sbatch reservation=r1 --sbatch exclusive=true.",
)
def run(
    file: str | None,
    output: str | None,
    resume: str | None,
    retry_failed: bool,
    as_json: bool,
    executor: str | None,
    partition: str | None,
    account: str | None,
    qos: str | None,
    constraint: str | None,
    sbatch: tuple[str, ...],
) -> None:
    """Run study FILE: every experiment in its own process (or SLURM job); failures are recorded and the study
    goes on."""
    if output and resume:
        raise click.UsageError("--output and --resume exclude each other (a resumed study keeps its folder)")
    slurm: dict[str, object] = {
        k: v
        for k, v in {"partition": partition, "account": account, "qos": qos, "constraint": constraint}.items()
        if v is not None
    }
    if sbatch:
        slurm["sbatch"] = _sbatch_options(sbatch)
    try:
        with ProgressView() as view:
            manifest, folder = run_study(
                file,
                output=output,
                resume=resume,
                progress=view,
                retry_failed=retry_failed,
                executor=executor,
                slurm=slurm,
            )
    except StudyInterrupted as exc:
        click.echo(
            f"llem: study interrupted ({exc}); continue it with: llem study run --resume DIR", err=True
        )
        raise SystemExit(130) from None
    except OSError as exc:  # the study folder stopped being writable (full disk, read-only remount)
        where = f" ({exc.filename})" if exc.filename else ""
        raise UserError(
            f"the study folder cannot be written: {exc.strerror or exc}{where}; finished runs are kept, "
            "continue with: llem study run --resume DIR once there is space"
        ) from None
    counts: dict[str, int] = {}
    for r in manifest.runs:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lost = sum(r.failure == "job" for r in manifest.runs)
    if as_json:
        click.echo(
            msgspec.json.format(
                msgspec.json.encode({"folder": str(folder), **msgspec.to_builtins(manifest)}), indent=2
            )
        )
    else:
        for row in aggregate_rows(run_rows(folder, manifest), manifest):
            if row.get("notes"):
                click.echo(f"note: {row['point_id']}: {row['notes']}")
        click.echo(f"study {manifest.status}: {summary}")
        click.echo(
            f"results: {folder}  (tables in {folder / 'summary'}; llem report {folder} renders the report)"
        )
    if lost:
        click.echo(
            f"{lost} run(s) lost their SLURM job before a result (see llem study status {folder}); "
            f"llem study run --resume {folder} runs them again",
            err=as_json,
        )
    if manifest.status != "complete":
        raise SystemExit(1)


def _sbatch_options(items: tuple[str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--sbatch")
        out[name.strip()] = yaml.safe_load(value) if value else True
    return out


@study.command("status")
@click.argument("study_dir", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(study_dir: str, as_json: bool) -> None:
    """Show the state of every run of STUDY_DIR: queued, running, ok, failed, pending (local or SLURM)."""
    st = study_status(study_dir)
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(st), indent=2))
    else:
        click.echo(render_status(st))
