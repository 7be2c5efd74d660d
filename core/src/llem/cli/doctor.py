"""`llem doctor`: can this machine measure energy, and are the backends healthy?"""

from __future__ import annotations

import click
import msgspec

from llem.cli.output import echo_json, table
from llem.measure.doctor import diagnose


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds is not None else "-"


def _w(watts: float | None) -> str:
    return f"{watts:.0f} W" if watts is not None else "-"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def doctor(as_json: bool) -> None:
    """Check GPUs, energy counters (support, measured update period, read cost), RAPL and backends."""
    report = diagnose()
    if as_json:
        echo_json(msgspec.to_builtins(report))
        return
    if report.gpus:
        periods = dict(zip(report.visible_gpus, report.energy.update_periods_s, strict=False))
        rows = []
        for g in report.gpus:
            visible = g.index in report.visible_gpus
            counter = "yes" if report.energy.meter == "nvml" and visible else ("-" if not visible else "no")
            rows.append(
                (
                    g.index,
                    g.name,
                    g.driver,
                    _w(g.power_limit_w),
                    _w(g.default_power_limit_w),
                    "-" if g.persistence_mode is None else "on" if g.persistence_mode else "off",
                    f"{g.temperature_c:.0f} °C" if g.temperature_c is not None else "-",
                    counter,
                    _ms(periods.get(g.index)),
                    "yes" if visible else "no (CUDA_VISIBLE_DEVICES)",
                )
            )
        click.echo(
            table(
                [
                    "gpu",
                    "name",
                    "driver",
                    "power limit",
                    "default",
                    "persistence",
                    "temp",
                    "energy counter",
                    "counter period",
                    "visible",
                ],
                rows,
            )
        )
        if report.energy.meter == "nvml":
            click.echo(f"energy counter read (all GPUs): {_ms(report.energy.read_cost_s)}")
    else:
        click.echo(f"GPUs: none ({report.nvml_error or 'NVML sees no GPU'})")
    r = report.rapl
    if r.available:
        click.echo(
            f"RAPL: readable, {', '.join(r.devices)}; counter period {_ms(r.update_period_s)}, "
            f"read {_ms(r.read_cost_s)}"
        )
    else:
        click.echo(f"RAPL: {r.reason}")
    click.echo("")
    if report.backends:
        click.echo(
            table(
                ["backend", "version", "status", "error"],
                [(b.name, b.version, b.status, b.error or "") for b in report.backends],
            )
        )
    else:
        click.echo("backends: none installed (pip install llem-pytorch)")
    click.echo("")
    click.echo(report.verdict)
