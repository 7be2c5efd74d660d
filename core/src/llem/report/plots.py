"""The report's figures as PNG bytes (matplotlib, no pyplot global state): efficiency with its Pareto front,
each metric against each swept parameter, and power over time for chosen runs."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llem.errors import UserError
from llem.report.pareto import pareto_front
from llem.report.timeseries import read_timeseries

FRONT_COLOR = "#d62728"
POINT_COLOR = "#1f77b4"


@dataclass
class Plot:
    """One figure of the report."""

    title: str
    caption: str
    png: bytes


def _figure(width: float = 7.5, height: float = 4.8) -> Any:
    try:
        # deferred: matplotlib is an optional extra and heavy
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("llem report needs matplotlib: pip install 'llem-core[report]'") from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # a renderer, so label placement can measure text before saving
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def clipped_errors(means: Sequence[float], halfwidths: Sequence[float | None]) -> list[list[float]]:
    """Asymmetric error bars [below, above] for mean ± CI half-width, clipped at 0: every metric plotted
    (energy, throughput, latency) is non-negative, so an interval never reaches below zero."""
    below = [min(h or 0.0, max(m, 0.0)) for m, h in zip(means, halfwidths, strict=True)]
    above = [h or 0.0 for h in halfwidths]
    return [below, above]


def place_labels(ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str]) -> list[Any]:
    """Annotate each point with its label, trying offsets around it so no two labels overlap (a label that
    fits nowhere keeps the first offset). Returns the annotations."""
    fig = ax.figure
    fig.canvas.draw()  # settle the axes limits, so positions in pixels are final
    renderer = fig.canvas.get_renderer()
    offsets = [(5, 5), (5, -13), (-7, 5), (-7, -13), (5, 14), (5, -22), (-7, 14), (-7, -22)]
    placed: list[Any] = []
    boxes: list[Any] = []
    for x, y, label in zip(xs, ys, labels, strict=True):
        text = None
        for dx, dy in offsets:
            ha = "left" if dx > 0 else "right"
            candidate = ax.annotate(
                label, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=8, ha=ha
            )
            box = candidate.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(b) for b in boxes):
                text = candidate
                break
            candidate.remove()
        if text is None:
            text = ax.annotate(label, (x, y), textcoords="offset points", xytext=offsets[0], fontsize=8)
            box = text.get_window_extent(renderer)
        boxes.append(box)
        placed.append(text)
    return placed


def energy_measured(agg: Sequence[Mapping[str, Any]]) -> bool:
    return any(r.get("energy_per_output_token_j_mean") is not None for r in agg)


def efficiency_plot(agg: Sequence[Mapping[str, Any]], not_measured_reason: str | None) -> Plot | None:
    """Energy per output token vs output throughput (mean ± 95% CI), Pareto front marked. Without energy: mean
    end-to-end latency instead, said in the title."""
    with_energy = energy_measured(agg)
    ykey = "energy_per_output_token_j" if with_energy else "e2e_mean_s"
    rows = [
        r for r in agg if r.get(f"{ykey}_mean") is not None and r.get("output_tokens_per_s_mean") is not None
    ]
    if not rows:
        return None
    xs = [float(r["output_tokens_per_s_mean"]) for r in rows]
    ys = [float(r[f"{ykey}_mean"]) for r in rows]
    xerr = clipped_errors(xs, [r.get("output_tokens_per_s_ci95") for r in rows])
    yerr = clipped_errors(ys, [r.get(f"{ykey}_ci95") for r in rows])
    front = pareto_front(xs, ys)
    fig = _figure()
    ax = fig.add_subplot()
    ax.errorbar(
        xs,
        ys,
        xerr=xerr,
        yerr=yerr,
        fmt="o",
        color=POINT_COLOR,
        ecolor="#9ecae1",
        capsize=3,
        label="configuration (mean ± 95% CI)",
    )
    ax.plot([xs[i] for i in front], [ys[i] for i in front], "-", color=FRONT_COLOR, linewidth=1.5, zorder=3)
    ax.scatter(
        [xs[i] for i in front],
        [ys[i] for i in front],
        s=90,
        facecolors="none",
        edgecolors=FRONT_COLOR,
        linewidths=2,
        zorder=4,
        label="Pareto front",
    )
    ax.set_xlabel("output throughput (tokens/s)")
    if with_energy:
        ax.set_ylabel("energy per output token (J)")
        title = "Energy per output token vs throughput"
        caption = (
            "Lower and further right is better. Red: the Pareto front (no other configuration is both "
            "faster and cheaper). Error bars: 95% confidence intervals over cycles (t distribution)."
        )
    else:
        ax.set_ylabel("mean end-to-end latency per request (s)")
        title = "Latency vs throughput (energy not measured)"
        caption = (
            "Energy was not measured on this machine"
            + (f" ({not_measured_reason})" if not_measured_reason else "")
            + ", so the front trades throughput against mean end-to-end latency instead. Red: the Pareto "
            "front. Error bars: 95% confidence intervals over cycles (t distribution)."
        )
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.set_ylim(bottom=0)
    ax.legend(loc="best", fontsize=8)
    place_labels(ax, xs, ys, [r["point_id"] for r in rows])
    return Plot(title=title, caption=caption, png=_png(fig))


def is_serving(agg: Sequence[Mapping[str, Any]]) -> bool:
    return any(r.get("goodput_requests_per_s_mean") is not None for r in agg)


def serving_plots(agg: Sequence[Mapping[str, Any]], not_measured_reason: str | None) -> list[Plot]:
    """Serving studies: J/request and goodput against the offered request rate, and the energy-vs-goodput
    Pareto front (latency-vs-goodput, said in the title, where energy was not measured)."""
    rows = [r for r in agg if r.get("goodput_requests_per_s_mean") is not None]
    if not rows:
        return []
    with_energy = any(r.get("energy_per_request_j_mean") is not None for r in rows)
    plots = []
    by_rate = sorted(
        (r for r in rows if r.get("offered_rate_per_s_mean") is not None),
        key=lambda r: r["offered_rate_per_s_mean"],
    )
    if by_rate:
        fig = _figure(9.0, 4.2)
        rates = [r["offered_rate_per_s_mean"] for r in by_rate]
        left = fig.add_subplot(1, 2, 1)
        ykey, ylabel = (
            ("energy_per_request_j", "energy per request (J)")
            if with_energy
            else ("e2e_p50_s", "median end-to-end latency (s)")
        )
        pts = [(x, r) for x, r in zip(rates, by_rate, strict=True) if r.get(f"{ykey}_mean") is not None]
        left.errorbar(
            [x for x, _ in pts],
            [r[f"{ykey}_mean"] for _, r in pts],
            yerr=[r.get(f"{ykey}_ci95") or 0 for _, r in pts],
            fmt="o-",
            capsize=3,
            color=POINT_COLOR,
        )
        left.set_xlabel("offered request rate (requests/s)")
        left.set_ylabel(ylabel)
        left.grid(True, alpha=0.3)
        right = fig.add_subplot(1, 2, 2)
        for key, label, fmt in (
            ("achieved_rate_per_s", "achieved (sent)", "s--"),
            ("requests_per_s", "completed", "^-"),
            ("goodput_requests_per_s", "goodput (met the SLO)", "o-"),
        ):
            pts = [(x, r) for x, r in zip(rates, by_rate, strict=True) if r.get(f"{key}_mean") is not None]
            right.errorbar(
                [x for x, _ in pts],
                [r[f"{key}_mean"] for _, r in pts],
                yerr=[r.get(f"{key}_ci95") or 0 for _, r in pts],
                fmt=fmt,
                capsize=3,
                label=label,
            )
        top = max(rates)
        right.plot([0, top], [0, top], ":", color="gray", linewidth=1, label="offered")
        right.set_xlabel("offered request rate (requests/s)")
        right.set_ylabel("requests/s")
        right.grid(True, alpha=0.3)
        right.legend(fontsize=7, loc="best")
        title = ("Energy per request" if with_energy else "Latency") + " and goodput vs request rate"
        fig.suptitle(title)
        caption = "Mean ± 95% CI over cycles. Goodput counts requests of the window that met every SLO."
        if not with_energy:
            caption += " Energy was not measured" + (
                f" ({not_measured_reason})" if not_measured_reason else ""
            )
            caption += ", so the left panel shows median end-to-end latency."
        plots.append(Plot(title=title, caption=caption, png=_png(fig)))
    ykey, ylabel = (
        ("energy_per_good_request_j", "energy per good request (J)")
        if with_energy
        else ("ttft_p99_s", "TTFT p99 (s)")
    )
    front_rows = [r for r in rows if r.get(f"{ykey}_mean") is not None]
    if front_rows:
        xs = [float(r["goodput_requests_per_s_mean"]) for r in front_rows]
        ys = [float(r[f"{ykey}_mean"]) for r in front_rows]
        front = pareto_front(xs, ys)
        fig = _figure()
        ax = fig.add_subplot()
        ax.scatter(xs, ys, color=POINT_COLOR, label="configuration (mean)")
        ax.plot([xs[i] for i in front], [ys[i] for i in front], "-", color=FRONT_COLOR, linewidth=1.5)
        ax.scatter(
            [xs[i] for i in front], [ys[i] for i in front], s=90, facecolors="none", edgecolors=FRONT_COLOR,
            linewidths=2, label="Pareto front",
        )  # fmt: skip
        for x, y, r in zip(xs, ys, front_rows, strict=True):
            ax.annotate(r["point_id"], (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set_xlabel("goodput (requests/s meeting the SLO)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        title = ("Energy" if with_energy else "Tail latency") + " vs goodput (Pareto front)"
        ax.set_title(title)
        caption = "Further right and lower is better; red: no other configuration has more goodput for less."
        if not with_energy:
            caption += " Energy was not measured here, so the cost axis is TTFT p99."
        plots.append(Plot(title=title, caption=caption, png=_png(fig)))
    return plots


def parameter_plots(agg: Sequence[Mapping[str, Any]], varied: Sequence[str]) -> list[Plot]:
    """For each swept parameter: energy per output token (when measured) and throughput against its values."""
    metrics = [("output_tokens_per_s", "output throughput (tokens/s)")]
    if energy_measured(agg):
        energy = [("energy_per_output_token_j", "energy per output token (J)")]
        if any(r.get("dynamic_energy_per_output_token_j_mean") is not None for r in agg):
            energy.append(
                ("dynamic_energy_per_output_token_j", "dynamic energy per output token (J, above idle)")
            )
        metrics[:0] = energy
    rows = [r for r in agg if r.get("n_ok")]
    plots = []
    for param in varied:
        values = _ordered_values([r.get(param) for r in rows])
        if len(values) < 2:
            continue
        others = [p for p in varied if p != param]
        groups = list(dict.fromkeys(_group_label(r, others) for r in rows))
        fig = _figure(4.2 * len(metrics) + 1.0, 4.2)
        for k, (metric, label) in enumerate(metrics):
            ax = fig.add_subplot(1, len(metrics), k + 1)
            for g, group in enumerate(groups):
                mine = [
                    r
                    for r in rows
                    if _group_label(r, others) == group and r.get(f"{metric}_mean") is not None
                ]
                if not mine:
                    continue
                offset = (g - (len(groups) - 1) / 2) * 0.08 if len(groups) > 1 else 0.0
                xs = [values.index(_key(r.get(param))) + offset for r in mine]
                means = [r[f"{metric}_mean"] for r in mine]
                ax.errorbar(
                    xs,
                    means,
                    yerr=clipped_errors(means, [r.get(f"{metric}_ci95") for r in mine]),
                    fmt="o-" if len(groups) <= 8 else "o",
                    capsize=3,
                    label=group if len(groups) <= 8 else None,
                )
            ax.set_xticks(
                range(len(values)), [_tick(v) for v in values], rotation=20 if len(values) > 4 else 0
            )
            ax.set_xlabel(param)
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
            if 1 < len(groups) <= 8 and k == len(metrics) - 1:
                ax.legend(fontsize=7, loc="best")
        title = f"Metrics vs {param}"
        fig.suptitle(title)
        plots.append(
            Plot(
                title=title,
                caption=f"Mean ± 95% CI over cycles per configuration; one line per setting "
                f"of the other swept parameters ({', '.join(others) or 'none'}).",
                png=_png(fig),
            )
        )
    return plots


def power_plot(study_dir: Path, runs: Sequence[Mapping[str, Any]]) -> Plot | None:
    """Power over time (summed over the sampled GPUs) of the chosen runs; the window starts at t = 0."""
    fig = _figure(7.5, 4.0)
    ax = fig.add_subplot()
    drawn = 0
    for run in runs:
        if not run.get("result_dir"):
            continue
        rows = [r for r in read_timeseries(study_dir / run["result_dir"]) if r.get("power_w") is not None]
        if not rows:
            continue
        by_t: dict[float, float] = {}
        for r in rows:
            t = round(float(r.get("t_rel_s") or 0.0), 3)
            by_t[t] = by_t.get(t, 0.0) + float(r["power_w"])
        ts = sorted(by_t)
        ax.plot(ts, [by_t[t] for t in ts], linewidth=1.2, label=f"{run['run_id']} ({run['label']})")
        if run.get("window_s"):
            ax.axvspan(0, float(run["window_s"]), alpha=0.06, color="gray")
        drawn += 1
    if not drawn:
        return None
    ax.set_xlabel("time from the start of the measured window (s)")
    ax.set_ylabel("power (W)")
    ax.set_title("Power during chosen runs")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return Plot(
        title="Power during chosen runs",
        caption="Sampled power (W, summed over the measured GPUs; the "
        "sampled power is a moving average on some GPUs and is shown for shape only: energy comes from the "
        "energy counter). Grey: measured windows.",
        png=_png(fig),
    )


def _key(value: Any) -> Any:
    return "unset" if value is None else value


def _ordered_values(values: Sequence[Any]) -> list[Any]:
    unique = list(dict.fromkeys(_key(v) for v in values))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in unique):
        return sorted(unique)
    return unique


def _group_label(row: Mapping[str, Any], others: Sequence[str]) -> str:
    return ", ".join(f"{p.split('.')[-1]}={_tick(_key(row.get(p)))}" for p in others) or "all"


def _tick(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
