"""Render a study folder as one self-contained HTML file (plots embedded as base64 PNGs, nothing external)."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llem.errors import UserError
from llem.files import write_bytes_atomic
from llem.report.pareto import pareto_front
from llem.report.plots import (
    Plot,
    efficiency_plot,
    energy_measured,
    parameter_plots,
    power_plot,
    serving_plots,
)
from llem.study.manifest import StudyManifest, load_manifest
from llem.study.nodes import node_rows
from llem.study.table import aggregate_rows, run_rows

REPORT_FILE = "report.html"
MAX_POWER_RUNS = 4

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #555; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
tr.front td { background: #fff1f0; } .fail { color: #b00; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; max-width: 900px; }
.note { background: #fffbe6; border: 1px solid #f0e0a0; padding: 0.5em 1em; }
"""


def render_report(
    study_dir: str | Path, *, power_runs: Sequence[str] | None = None, output: str | Path | None = None
) -> Path:
    """Write the study's HTML report (default: <study_dir>/report.html) and return its path.

    power_runs: run ids (e.g. p001-c1) whose power timeseries to plot; default: the first ok run of each
    configuration on the Pareto front (at most four).
    """
    folder = Path(study_dir)
    manifest = load_manifest(folder)
    rows = run_rows(folder, manifest)
    agg = aggregate_rows(rows, manifest)
    reason = next(
        (r["energy_not_measured_reason"] for r in rows if r.get("energy_not_measured_reason")), None
    )
    chosen = _chosen_runs(rows, agg, power_runs)
    plots: list[Plot] = []
    eff = efficiency_plot(agg, reason)
    if eff is not None:
        plots.append(eff)
    plots += serving_plots(agg, reason)
    plots += parameter_plots(agg, manifest.varied)
    power = power_plot(folder, chosen)
    text = _page(manifest, rows, agg, plots, power, chosen, reason)
    target = Path(output) if output else folder / REPORT_FILE
    write_bytes_atomic(target, text.encode("utf-8"))
    return target


def _chosen_runs(
    rows: Sequence[Mapping[str, Any]], agg: Sequence[Mapping[str, Any]], wanted: Sequence[str] | None
) -> list[Mapping[str, Any]]:
    if wanted:
        known = {r["run_id"]: r for r in rows}
        missing = [w for w in wanted if w not in known]
        if missing:
            raise UserError(f"--runs: no run {', '.join(missing)} in this study (run ids look like p001-c1)")
        return [known[w] for w in wanted]
    front_ids = set(_front_ids(agg))
    firsts: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        if r["status"] == "ok" and r["point_id"] not in firsts:
            firsts[r["point_id"]] = r
    ordered = [firsts[p] for p in firsts if p in front_ids] + [
        firsts[p] for p in firsts if p not in front_ids
    ]
    return ordered[:MAX_POWER_RUNS]


def _front_ids(agg: Sequence[Mapping[str, Any]]) -> list[str]:
    ykey = "energy_per_output_token_j_mean" if energy_measured(agg) else "e2e_mean_s_mean"
    rows = [r for r in agg if r.get(ykey) is not None and r.get("output_tokens_per_s_mean") is not None]
    front = pareto_front([r["output_tokens_per_s_mean"] for r in rows], [r[ykey] for r in rows])
    return [rows[i]["point_id"] for i in front]


def _page(
    manifest: StudyManifest,
    rows: Sequence[Mapping[str, Any]],
    agg: Sequence[Mapping[str, Any]],
    plots: Sequence[Plot],
    power: Plot | None,
    chosen: Sequence[Mapping[str, Any]],
    reason: str | None,
) -> str:
    e = html.escape
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    device = manifest.device.get("gpus") or []
    device_text = ", ".join(g["name"] for g in device) if device else "no GPU (CPU only)"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>llem study {e(manifest.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Study {e(manifest.name)}</h1>",
        f"<p class='meta'>{len(manifest.points)} configurations × {manifest.study.get('cycles')} cycles; "
        f"status {e(manifest.status)} ({e(', '.join(f'{n} {s}' for s, n in sorted(counts.items())))}); "
        f"device: {e(device_text)}; llem {e(manifest.llem_version)}; created {e(manifest.created_at)}</p>",
    ]
    if not energy_measured(agg):
        parts.append(
            f"<p class='note'>Energy was not measured{': ' + e(reason) if reason else ''}. "
            "Throughput and latency are reported; energy figures are left out rather than shown as 0.</p>"
        )
    parts.append("<h2>Configurations</h2>")
    parts.append(_aggregate_table(agg, manifest.varied, set(_front_ids(agg))))
    noted = [r for r in agg if r.get("notes")]
    if noted:
        parts.append("<ul class='notes'>")
        parts += [f"<li><b>{e(r['point_id'])}</b>: {e(r['notes'])}</li>" for r in noted]
        parts.append("</ul>")
    parts += _nodes_section(rows)
    parts.append("<h2>Plots</h2>")
    for p in plots:
        parts.append(_figure_html(p))
    if power is not None:
        parts.append(_figure_html(power))
    else:
        names = ", ".join(r["run_id"] for r in chosen) or "none"
        parts.append(
            f"<p class='note'>No power timeseries to plot for the chosen runs ({e(names)}): no GPU power "
            "samples were recorded (the sampler reads GPU telemetry through NVML).</p>"
        )
    failed = [r for r in rows if r["status"] in ("failed", "skipped")]
    if failed:
        parts.append(
            "<h2>Failed and skipped runs</h2><table><tr><th class='l'>run</th><th class='l'>setting</th>"
            "<th class='l'>status</th><th class='l'>error</th></tr>"
        )
        for r in failed:
            parts.append(
                f"<tr><td class='l'>{e(r['run_id'])}</td><td class='l'>{e(r['label'])}</td>"
                f"<td class='l fail'>{e(r['status'])}{_failure(r)}"
                f"</td><td class='l'>{e(str(r.get('error') or ''))}</td></tr>"
            )
        parts.append("</table>")
    if manifest.pruned:
        parts.append(
            "<h2>Pruned combinations (not run)</h2><table><tr><th class='l'>setting</th>"
            "<th class='l'>reason</th></tr>"
        )
        parts += [
            f"<tr><td class='l'>{e(p.label)}</td><td class='l'>{e(p.reason)}</td></tr>"
            for p in manifest.pruned
        ]
        parts.append("</table>")
    if manifest.duplicates:
        parts.append("<h2>Duplicates (measured once)</h2><ul>")
        parts += [f"<li>{e(d.label)} = {e(d.same_as)}</li>" for d in manifest.duplicates]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _nodes_section(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Which node measured how many runs, and the nodes whose idle power, GPU, clocks or limit differ."""
    nodes = node_rows(rows)
    if len(nodes) < 2:
        return []
    e = html.escape
    flagged = [n for n in nodes if n["flags"]]
    parts = ["<h2>Nodes</h2>"]
    if flagged:
        parts.append(
            "<p class='note'>"
            + "; ".join(
                f"<b>{e(n['node'])}</b> differs from the other nodes: {e(n['flags'])}" for n in flagged
            )
            + ". Numbers measured there may not compare with the rest.</p>"
        )
    parts.append(
        "<table><tr><th class='l'>node</th><th>runs</th><th>ok</th><th>idle power (W)</th>"
        "<th class='l'>GPU</th><th>max SM clock (MHz)</th><th>power limit (W)</th></tr>"
    )
    for n in nodes:
        idle = n["idle_power_w_mean"]
        parts.append(
            f"<tr><td class='l{' fail' if n['flags'] else ''}'>{e(n['node'])}</td><td>{n['n_runs']}</td>"
            f"<td>{n['n_ok']}</td><td>{'' if idle is None else f'{idle:.1f}'}</td>"
            f"<td class='l'>{e(str(n['gpu_name'] or ''))}</td><td>{_show(n['max_sm_clock_mhz'])}</td>"
            f"<td>{_show(n['power_limit_w'])}</td></tr>"
        )
    parts.append("</table>")
    return parts


_AGG_COLUMNS = [
    ("energy_per_output_token_j", "J / output token", "{:.4g}"),
    ("dynamic_energy_per_output_token_j", "dynamic J / output token", "{:.4g}"),
    ("output_tokens_per_s", "output tokens/s", "{:.4g}"),
    ("ttft_mean_s", "TTFT mean (s)", "{:.3g}"),
    ("itl_mean_s", "ITL mean (s)", "{:.3g}"),
    ("e2e_mean_s", "end-to-end mean (s)", "{:.3g}"),
]


def _aggregate_table(agg: Sequence[Mapping[str, Any]], varied: Sequence[str], front: set[str]) -> str:
    e = html.escape
    cols = [c for c in _AGG_COLUMNS if any(r.get(f"{c[0]}_mean") is not None for r in agg)]
    head = "".join(f"<th class='l'>{e(v)}</th>" for v in varied) + "".join(
        f"<th>{e(c[1])}</th>" for c in cols
    )
    out = [f"<table><tr><th class='l'>id</th>{head}<th>ok / runs</th></tr>"]
    for r in agg:
        cells = "".join(f"<td class='l'>{e(_show(r.get(v)))}</td>" for v in varied)
        for key, _, fmt in cols:
            mean, ci = r.get(f"{key}_mean"), r.get(f"{key}_ci95")
            text = (
                "—" if mean is None else fmt.format(mean) + (f" ± {fmt.format(ci)}" if ci is not None else "")
            )
            if mean is not None and ci is not None and mean - ci < 0:
                text += " (≥ 0)"  # the interval is clipped at the physical limit
            cells += f"<td>{e(text)}</td>"
        cls = " class='front'" if r["point_id"] in front else ""
        mark = " ★" if r["point_id"] in front else ""
        out.append(
            f"<tr{cls}><td class='l'>{e(r['point_id'])}{mark}</td>{cells}"
            f"<td>{r['n_ok']} / {r['n_runs']}</td></tr>"
        )
    out.append(
        "</table><p class='meta'>★ on the Pareto front. ± is the half-width of the 95% confidence interval "
        "of "
        "the mean over cycles (Student t); none is shown for a single cycle. An interval that would reach "
        "below zero is clipped there (≥ 0): no metric here can be negative.</p>"
    )
    return "".join(out)


def _figure_html(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f"<figure><img alt='{html.escape(plot.title)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(plot.caption)}</figcaption></figure>"
    )


def _failure(row: Mapping[str, Any]) -> str:
    return f" ({html.escape(row['failure'])})" if row.get("failure") else ""


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
