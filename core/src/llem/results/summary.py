"""The plain-text summary `llem run` prints (energy as 'not measured (why)' when it was not measured)."""

from __future__ import annotations

import shutil
import textwrap
from typing import TYPE_CHECKING

from llem.text import table

if TYPE_CHECKING:
    from llem.results.schema import ExperimentResult, LatencyStats


def fmt(value: float, digits: int = 4) -> str:
    """`digits` significant digits, never in exponent form for the numbers a run produces: 1310.4 -> '1,310',
    0.0123 -> '0.0123'; very small values (< 1e-4) keep the exponent, where it is the readable form."""
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.{digits - 1}e}"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _num(value: float | None, unit: str = "", digits: int = 4) -> str:
    if value is None:
        return "—"
    return f"{fmt(value, digits)}{unit}"


def _lat(stats: LatencyStats, scale: float = 1000.0) -> str:
    if stats.mean is None or stats.p50 is None or stats.p90 is None or stats.p99 is None:
        return "—"
    return (
        f"mean {fmt(stats.mean * scale, 3)}  p50 {fmt(stats.p50 * scale, 3)}  "
        f"p90 {fmt(stats.p90 * scale, 3)}  p99 {fmt(stats.p99 * scale, 3)} ms"
    )


def _listing(rows: list[tuple[str, str]], width: int) -> str:
    """Key/value lines; a value too long for `width` wraps under itself instead of running off the edge."""
    key_w = max(len(k) for k, _ in rows)
    room = max(width - key_w - 2, 20)
    lines = []
    for key, value in rows:
        wrapped = textwrap.wrap(value, room, break_on_hyphens=False, break_long_words=False) or [""]
        lines.append(f"{key.ljust(key_w)}  {wrapped[0]}".rstrip())
        lines += [f"{'':{key_w}}  {more}" for more in wrapped[1:]]
    return "\n".join(lines)


def summary(result: ExperimentResult, *, width: int | None = None) -> str:
    """The summary `llem run` prints: energy as 'not measured (why)' when it was not measured.

    width: wrap to this many columns (default: the terminal's width, 100 when not a terminal)."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    e, mt, t = result.energy, result.metrics, result.timings
    if mt.serving is not None:
        return _serving_summary(result, width)
    rows: list[tuple[str, str]] = [
        *_identity_rows(result),
        (
            "requests",
            f"{mt.n_requests} in {mt.n_batches} batch{'es' if mt.n_batches != 1 else ''} of {mt.batch_size}"
            + (f", {mt.window_repetitions} passes" if (mt.window_repetitions or 1) > 1 else "")
            if mt.n_requests
            else "—",
        ),
        ("tokens in / out", f"{mt.input_tokens} / {mt.output_tokens}" if mt.n_requests else "—"),
        ("window", _num(t.window_s, " s")),
        ("output tokens/s", _num(mt.output_tokens_per_s, "", 5)),
        ("total tokens/s", _num(mt.total_tokens_per_s, "", 5)),
        ("requests/s", _num(mt.requests_per_s)),
        ("TTFT", _lat(mt.ttft_s)),
        ("ITL", _lat(mt.itl_s)),
        ("end to end", _lat(mt.e2e_s)),
    ]
    if not e.measured:
        rows.append(_not_measured_row(result))
    else:
        scope = f"{e.sampler}, {e.scope}, {len(e.devices)} device{'s' if len(e.devices) != 1 else ''}"
        bound = (
            f"± {fmt(e.total_j_bound, 2)} J"
            if e.total_j_bound is not None
            else "J (± unknown: unaligned edges)"
        )
        rows.append(("energy (total)", f"{_num(e.total_j)} {bound}  [{scope}]"))
        if e.dynamic_j is not None:
            rows.append(
                (
                    "energy (dynamic)",
                    f"{fmt(e.dynamic_j)} J above idle {_num(e.idle_power_w)} W ({e.baseline_source})",
                )
            )
        else:
            rows.append(("energy (dynamic)", "— (no idle baseline)"))
        rows.append(("mean power", _num(e.mean_power_w, " W")))
        if e.carbon_g_co2e is not None:
            rows.append(
                (
                    "emissions",
                    f"{fmt(e.carbon_g_co2e, 3)} gCO2e at {fmt(e.carbon_intensity_g_per_kwh or 0)} g/kWh",
                )
            )
        if e.cost is not None:
            unit = f" {e.currency}" if e.currency else ""
            rows.append(("energy cost", f"{fmt(e.cost, 3)}{unit} at {fmt(e.price_per_kwh or 0)}{unit}/kWh"))
        if mt.energy_per_output_token_j is not None:
            rows.append(
                (
                    "J / output token",
                    fmt(mt.energy_per_output_token_j)
                    + (
                        f"  (dynamic {fmt(mt.dynamic_energy_per_output_token_j)})"
                        if mt.dynamic_energy_per_output_token_j is not None
                        else ""
                    ),
                )
            )
            rows.append(("J / token (in+out)", _num(mt.energy_per_token_j)))
        elif e.short_window:
            rows.append(("J / output token", "withheld (short window; see notes)"))
        if e.phase_split is not None:
            if e.phase_bound_j is not None:
                decode_bound = e.phase_bound_j + (e.total_j_bound or 0.0)
                value = (
                    f"{_num(e.prefill_j)} ± {fmt(e.phase_bound_j, 2)} / "
                    f"{_num(e.decode_j)} ± {fmt(decode_bound, 2)} J"
                )
            else:
                value = f"{_num(e.prefill_j)} / {_num(e.decode_j)} J"
            rows.append((f"prefill / decode ({e.phase_split})", value))
        pre_j, dec_j = mt.prefill_energy_per_input_token_j, mt.decode_energy_per_output_token_j
        if pre_j is not None and dec_j is not None:
            dyn = ""
            if mt.dynamic_prefill_energy_per_input_token_j is not None:
                dyn = (
                    f"  (dynamic {fmt(mt.dynamic_prefill_energy_per_input_token_j)} / "
                    f"{_num(mt.dynamic_decode_energy_per_output_token_j)})"
                )
            rows.append(
                (
                    "J / input token (prefill) / J / output token (decode)",
                    f"{fmt(pre_j)} / {fmt(dec_j)}{dyn}",
                )
            )
    if mt.peak_memory_mib is not None:
        rows.append(("peak memory", f"{mt.peak_memory_mib:,.0f} MiB"))
    if mt.mfu is not None:
        rows.append(
            ("MFU / MBU", f"{mt.mfu:.2%} / {mt.mbu:.2%}" if mt.mbu is not None else f"{mt.mfu:.2%} / —")
        )
    warm = f" ({t.warmup_batches} batch{'es' if t.warmup_batches != 1 else ''})" if t.warmup_batches else ""
    rows.append(("load / warm-up", f"{_num(t.load_s, ' s')} / {_num(t.warmup_s, ' s')}{warm}"))
    return _listing(rows, width) + _notes(result, width)


def _identity_rows(result: ExperimentResult) -> list[tuple[str, str]]:
    """What ran and how it ended: the first rows of every summary."""
    return [
        ("experiment", result.experiment_id),
        ("status", result.status + (f": {result.error}" if result.error else "")),
        ("model / backend", f"{result.model} / {result.backend}"),
    ]


def _not_measured_row(result: ExperimentResult) -> tuple[str, str]:
    """The energy row of a run whose energy was not measured: the reason, never a zero."""
    e = result.energy
    reason = e.not_measured_reason or ("the run failed" if result.status != "ok" else "no reading")
    return ("energy", f"not measured ({reason})")


def _notes(result: ExperimentResult, width: int) -> str:
    if not result.notes:
        return ""
    notes = [textwrap.fill(n, width, initial_indent="  - ", subsequent_indent="    ") for n in result.notes]
    return "\nnotes:\n" + "\n".join(notes)


def _serving_summary(result: ExperimentResult, width: int) -> str:
    """The summary of a serving run: rates, goodput, latencies and energy per request of the window."""
    e, mt, t = result.energy, result.metrics, result.timings
    sv = mt.serving
    assert sv is not None
    offered = f"{sv.offered_rate_per_s:.4g}/s ({sv.arrival})" if sv.offered_rate_per_s else sv.arrival or "—"
    if sv.max_concurrency:
        offered += f", max {sv.max_concurrency} in flight"
    slo = (
        ", ".join(f"{k.removesuffix('_ms')} ≤ {v:g} ms" for k, v in sv.slo.items())
        or "no SLO: every completed"
    )
    rows: list[tuple[str, str]] = [
        *_identity_rows(result),
        ("window", _num(t.window_s, " s") + f"  (after {_num(t.warmup_s, ' s')} warm-up)"),
        ("offered / achieved", f"{offered} / {_num(sv.achieved_rate_per_s, '/s')}"),
        ("requests", f"{sv.n_sent} sent, {sv.n_completed} completed, {sv.n_failed} failed (in the window)"),
        ("requests/s", _num(mt.requests_per_s)),
        ("goodput", f"{_num(sv.goodput_requests_per_s, '/s')}  ({sv.n_good} good; {slo})"),
        ("output tokens/s", _num(mt.output_tokens_per_s, "", 5) + f"  (length {sv.output_length or '—'})"),
        ("TTFT", _lat(mt.ttft_s)),
        ("TPOT", _lat(sv.tpot_s)),
        ("ITL", _lat(mt.itl_s)),
        ("end to end", _lat(mt.e2e_s)),
    ]
    if not e.measured:
        rows.append(_not_measured_row(result))
    else:
        bound = f"± {e.total_j_bound:.2g} J" if e.total_j_bound is not None else "J (± unknown)"
        rows.append(("energy (window)", f"{e.total_j:.4g} {bound}  [{e.sampler}, {e.scope}]"))
        rows.append(("mean power", _num(e.mean_power_w, " W")))
        rows.append(("J / request", _num(sv.energy_per_request_j)))
        rows.append(("J / good request", _num(sv.energy_per_good_request_j)))
        rows.append(("J / output token", _num(mt.energy_per_output_token_j)))
        if e.dynamic_j is not None:
            rows.append(("dynamic J / request", _num(sv.dynamic_energy_per_request_j)))
    rows.append(("server start", _num(t.load_s, " s")))
    return _listing(rows, width) + _notes(result, width)


def sweep_table(results: list[ExperimentResult]) -> str:
    """One row per experiment of a request-rate sweep: rates, goodput, latency percentiles, energy."""
    rows = []
    for r in results:
        mt = r.metrics
        sv = mt.serving
        if sv is None:
            continue
        rows.append(
            (
                _num(sv.offered_rate_per_s),
                _num(sv.achieved_rate_per_s),
                _num(mt.requests_per_s),
                _num(sv.goodput_requests_per_s),
                _num(mt.output_tokens_per_s),
                _num(mt.ttft_s.p50 * 1000 if mt.ttft_s.p50 is not None else None),
                _num(mt.ttft_s.p99 * 1000 if mt.ttft_s.p99 is not None else None),
                _num(sv.tpot_s.p50 * 1000 if sv.tpot_s.p50 is not None else None),
                _num(mt.e2e_s.p50 * 1000 if mt.e2e_s.p50 is not None else None),
                f"{sv.n_completed}/{sv.n_failed}",
                _num(sv.energy_per_request_j) if r.energy.measured else "not measured",
                _num(mt.energy_per_output_token_j) if r.energy.measured else "not measured",
            )
        )
    header = [
        "offered/s", "achieved/s", "req/s", "goodput/s", "out tok/s", "TTFT p50 ms", "TTFT p99 ms",
        "TPOT p50 ms", "e2e p50 ms", "done/failed", "J/request", "J/out token",
    ]  # fmt: skip
    return "request-rate sweep:\n" + table(header, rows)
