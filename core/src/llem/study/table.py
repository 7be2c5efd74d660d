"""The study table (one row per experiment and cycle, from each result.json) and its aggregate per
configuration.

Works from plain `result.json` files (the shared result contract), so it needs neither pandas nor the process
that ran the study; CSV always, Parquet too when pyarrow is installed."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from llem.files import write_bytes_atomic
from llem.study.expand import config_value
from llem.study.manifest import RunRecord, StudyManifest
from llem.study.nodes import node_rows
from llem.study.stats import summarize

SUMMARY_DIR = "summary"
RESULT_FILE = "result.json"


def _m(*keys: str | int) -> Callable[[Mapping[str, Any]], Any]:
    def get(result: Mapping[str, Any]) -> Any:
        node: Any = result
        for k in keys:
            if isinstance(k, int):
                node = node[k] if isinstance(node, list) and len(node) > k else None
                continue
            if not isinstance(node, Mapping):
                return None
            node = node.get(k)
        return node

    return get


# Column -> how to read it from result.json. Names keep the contract's units and denominators.
METRICS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "energy_per_output_token_j": _m("metrics", "energy_per_output_token_j"),
    "energy_per_token_j": _m("metrics", "energy_per_token_j"),
    "dynamic_energy_per_output_token_j": _m("metrics", "dynamic_energy_per_output_token_j"),
    "prefill_energy_per_input_token_j": _m("metrics", "prefill_energy_per_input_token_j"),
    "decode_energy_per_output_token_j": _m("metrics", "decode_energy_per_output_token_j"),
    "energy_total_j": _m("energy", "total_j"),
    "energy_total_j_bound": _m("energy", "total_j_bound"),
    "energy_dynamic_j": _m("energy", "dynamic_j"),
    "energy_prefill_j": _m("energy", "prefill_j"),
    "energy_decode_j": _m("energy", "decode_j"),
    "idle_power_w": _m("energy", "idle_power_w"),
    "output_tokens_per_s": _m("metrics", "output_tokens_per_s"),
    "total_tokens_per_s": _m("metrics", "total_tokens_per_s"),
    "requests_per_s": _m("metrics", "requests_per_s"),
    "ttft_mean_s": _m("metrics", "ttft_s", "mean"),
    "ttft_p50_s": _m("metrics", "ttft_s", "p50"),
    "ttft_p90_s": _m("metrics", "ttft_s", "p90"),
    "ttft_p99_s": _m("metrics", "ttft_s", "p99"),
    "itl_mean_s": _m("metrics", "itl_s", "mean"),
    "itl_p50_s": _m("metrics", "itl_s", "p50"),
    "itl_p99_s": _m("metrics", "itl_s", "p99"),
    "e2e_mean_s": _m("metrics", "e2e_s", "mean"),
    "e2e_p50_s": _m("metrics", "e2e_s", "p50"),
    "e2e_p99_s": _m("metrics", "e2e_s", "p99"),
    "peak_memory_mib": _m("metrics", "peak_memory_mib"),
    "mean_power_w": _m("energy", "mean_power_w"),
    # serving runs (metrics.serving; None for offline runs)
    "offered_rate_per_s": _m("metrics", "serving", "offered_rate_per_s"),
    "achieved_rate_per_s": _m("metrics", "serving", "achieved_rate_per_s"),
    "goodput_requests_per_s": _m("metrics", "serving", "goodput_requests_per_s"),
    "energy_per_request_j": _m("metrics", "serving", "energy_per_request_j"),
    "energy_per_good_request_j": _m("metrics", "serving", "energy_per_good_request_j"),
    "tpot_p50_s": _m("metrics", "serving", "tpot_s", "p50"),
    "tpot_p99_s": _m("metrics", "serving", "tpot_s", "p99"),
    "window_s": _m("timings", "window_s"),
    "carbon_g_co2e": _m("energy", "carbon_g_co2e"),
    "cost": _m("energy", "cost"),
    "load_s": _m("timings", "load_s"),
    "warmup_s": _m("timings", "warmup_s"),
    "baseline_s": _m("timings", "baseline_s"),
    "prefill_s": _m("timings", "prefill_s"),
}
# Extra facts per run (not aggregated).
FACTS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "input_tokens": _m("metrics", "input_tokens"),
    "output_tokens": _m("metrics", "output_tokens"),
    "n_requests": _m("metrics", "n_requests"),
    "energy_measured": _m("energy", "measured"),
    "energy_sampler": _m("energy", "sampler"),
    "energy_not_measured_reason": _m("energy", "not_measured_reason"),
    "short_window": _m("energy", "short_window"),
    "phase_split": _m("energy", "phase_split"),
    # the node that measured the run, and what of its first GPU can make nodes differ
    "gpu_name": _m("environment", "gpus", 0, "name"),
    "max_sm_clock_mhz": _m("environment", "gpus", 0, "max_sm_clock_mhz"),
    "power_limit_w": _m("environment", "gpus", 0, "power_limit_w"),
    "n_sent": _m("metrics", "serving", "n_sent"),
    "n_failed": _m("metrics", "serving", "n_failed"),
    "n_good": _m("metrics", "serving", "n_good"),
}


def read_result(path: Path) -> dict[str, Any] | None:
    """A result.json as a dict (None if absent or unreadable: a run killed before writing it has none)."""
    try:
        data = msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    return data if isinstance(data, dict) else None


def find_result(run_dir: Path) -> Path | None:
    """The result.json a run wrote under its folder (directly, or in the one experiment folder inside it)."""
    direct = run_dir / RESULT_FILE
    if direct.is_file():
        return direct
    found = sorted(run_dir.rglob(RESULT_FILE)) if run_dir.is_dir() else []
    return found[0] if found else None


def run_rows(study_dir: Path, manifest: StudyManifest) -> list[dict[str, Any]]:
    """One row per (point, cycle) in run order, with its status, swept parameters and key metrics."""
    rows = []
    points = {p.id: p for p in manifest.points}
    for run in manifest.runs:
        point = points[run.point_id]
        result = _result_of(study_dir, run)
        row: dict[str, Any] = {
            "study": manifest.name,
            "run_id": run.id,
            "point_id": run.point_id,
            "cycle": run.cycle,
            "label": point.label,
            "status": _status(run, result),
            "error": run.error or (result or {}).get("error"),
            "failure": run.failure,
            "config_hash": point.config_hash,
            "backend": point.config.get("backend"),
            "model": point.config.get("model"),
        }
        for path in manifest.varied:
            row[path] = _cell(config_value(point.config, path))
        env = (result or {}).get("environment") or {}
        row["node"] = env.get("hostname") or run.node
        row["job_id"] = run.job_id
        row["started_at"] = run.started_at
        row["wall_s"] = run.wall_s
        row["model_reused"] = run.model_reused
        for name, get in {**METRICS, **FACTS}.items():
            row[name] = get(result) if result is not None else None
        row["result_dir"] = run.result_dir
        rows.append(row)
    return rows


def aggregate_rows(rows: Sequence[Mapping[str, Any]], manifest: StudyManifest) -> list[dict[str, Any]]:
    """One row per configuration: run counts, then mean, std and 95% CI half-width (t) of each metric over ok
    runs."""
    out = []
    for point in manifest.points:
        mine = [r for r in rows if r["point_id"] == point.id]
        ok = [r for r in mine if r["status"] == "ok"]
        row: dict[str, Any] = {
            "point_id": point.id,
            "label": point.label,
            "config_hash": point.config_hash,
            "backend": point.config.get("backend"),
            "model": point.config.get("model"),
        }
        for path in manifest.varied:
            row[path] = _cell(config_value(point.config, path))
        row["n_runs"] = len(mine)
        row["n_ok"] = len(ok)
        row["n_failed"] = sum(r["status"] == "failed" for r in mine)
        for name in METRICS:
            s = summarize([r[name] for r in ok])
            row[f"{name}_mean"] = s.mean
            row[f"{name}_std"] = s.std
            row[f"{name}_ci95"] = s.ci95
        row["notes"] = window_spread_note([r["window_s"] for r in ok])
        out.append(row)
    return out


# Cycles of one configuration whose measured windows differ by more than this factor get a note.
MAX_WINDOW_SPREAD = 2.0


def window_spread_note(windows_s: Sequence[float | None]) -> str | None:
    """A note when the cycles of one configuration measured very different windows (the same work taking very
    different time: something else ran, a cycle hit a slow path); its means and intervals then mislead."""
    values = [w for w in windows_s if w]
    if len(values) < 2 or max(values) / min(values) <= MAX_WINDOW_SPREAD:
        return None
    return (
        f"measured windows vary {min(values):.3g}–{max(values):.3g} s across cycles of the same "
        "configuration: check its runs' notes and timeseries before using its mean"
    )


def write_tables(study_dir: Path, manifest: StudyManifest) -> list[Path]:
    """Write summary/runs.csv, summary/aggregate.csv and, when runs name their node, summary/nodes.csv (and
    .parquet with pyarrow); returns the paths written."""
    rows = run_rows(study_dir, manifest)
    agg = aggregate_rows(rows, manifest)
    folder = study_dir / SUMMARY_DIR
    written = []
    nodes = node_rows(rows)
    tables = [("runs", rows), ("aggregate", agg)] + ([("nodes", nodes)] if nodes else [])
    for stem, data in tables:
        path = folder / f"{stem}.csv"
        write_bytes_atomic(path, _csv(data).encode())
        written.append(path)
        pq = _parquet(data)
        if pq is not None:
            path = folder / f"{stem}.parquet"
            write_bytes_atomic(path, pq)
            written.append(path)
    return written


def _result_of(study_dir: Path, run: RunRecord) -> dict[str, Any] | None:
    if not run.result_dir:
        return None
    path = find_result(study_dir / run.result_dir)
    return read_result(path) if path is not None else None


def _status(run: RunRecord, result: Mapping[str, Any] | None) -> str:
    if run.status == "ok" and result is not None and result.get("status") not in (None, "ok"):
        return "failed"
    return run.status


def _cell(value: Any) -> Any:
    """Nested values (dicts, lists) as compact JSON so every column holds a scalar."""
    if isinstance(value, (dict, list)):
        return msgspec.json.encode(value).decode()
    return value


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    if not rows:
        return ""
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def _parquet(rows: Sequence[Mapping[str, Any]]) -> bytes | None:
    try:
        # deferred: pyarrow is optional and heavy (CSV without it)
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    if not rows:
        return None
    columns = {k: [r.get(k) for r in rows] for k in rows[0]}
    table = pa.table({k: _column(pa, v) for k, v in columns.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def _column(pa: Any, values: list[Any]) -> Any:
    """An Arrow column; a column mixing types (a swept axis of ints and strings) is stored as strings."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values])
