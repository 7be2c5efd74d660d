"""Turn what the lifecycle recorded (RunState) into the ExperimentResult and the timeseries table."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from llem.config.resolve import config_hash, to_dict
from llem.errors import UserError
from llem.kit.decoder import decoder_intent
from llem.kit.unvalidated import unvalidated_settings
from llem.measure.energy import device_bounds_j, window_energy
from llem.measure.environment import installed_versions
from llem.measure.telemetry import TelemetrySample
from llem.models.info import model_info
from llem.results import metrics as m
from llem.results.estimates import BYTES_PER_VALUE, batch_bytes, request_flops
from llem.results.footprint import footprint, rate
from llem.results.peaks import device_peak
from llem.results.schema import DeviceEnergy, Energy, ExperimentResult, Metrics, Timings
from llem.results.serving import ServingWindow, per_request_energy, serving_window
from llem.results.window_checks import batch_spread_note, short_output_note
from llem.results.write import experiment_id
from llem.version import __version__

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.measure.telemetry import TelemetrySample
    from llem.run.lifecycle import RunState, WindowRecord


def assemble(state: RunState) -> ExperimentResult:
    """The complete result of a run (ok or failed); energy fields stay None unless energy was measured."""
    config = state.config
    chash = config_hash(config)
    notes = list(state.notes)
    metrics, energy = Metrics(batch_size=state.batch_size, n_batches=state.n_batches), _energy_header(state)
    rec = state.window
    if rec is not None and rec.outputs and state.error is None:
        metrics, energy = _window_metrics(state, rec, metrics, energy, notes)
    notes += [n for n in state.meter.notes if n not in notes]
    energy = _footprint(config, energy)
    environment = dict(state.environment)
    if state.end_temperatures_c:
        environment["temperatures_end_c"] = {str(k): v for k, v in state.end_temperatures_c.items()}
    environment["throttle_events"] = state.throttle_events
    packages = dict(environment.get("packages", {}))
    packages.setdefault("llem-core", __version__)
    if state.backend_distribution and state.backend_version:
        packages.setdefault(state.backend_distribution, state.backend_version)
    packages.update(installed_versions(state.caps.engine_packages))
    return ExperimentResult(
        llem_version=__version__,
        experiment_id=experiment_id(config.name, config.model, config.backend, chash, state.started_at),
        name=config.name,
        config_hash=chash,
        config=to_dict(config),
        backend=config.backend,
        model=config.model,
        status="failed" if state.error else "ok",
        error=state.error,
        error_traceback=state.error_traceback,
        started_at=state.started_at.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        environment=environment,
        packages=packages,
        timings=msgspec.convert(
            {**state.timings, "window_s": (rec.end_s - rec.start_s) if rec and rec.end_s else None}, Timings
        ),
        energy=energy,
        metrics=metrics,
        prompts_source=state.prompts_source,
        notes=notes,
        unvalidated=unvalidated_settings(config),
        decoder=msgspec.to_builtins(decoder_intent(config, state.caps)),
    )


def refused_result(config: ExperimentBase, error: str, started_at: datetime) -> ExperimentResult:
    """The result of a run refused before anything loaded (status failed, the one-line reason, no metrics):
    what a study records for it, where a single `llem run` writes nothing and exits 2."""
    chash = config_hash(config)
    return ExperimentResult(
        llem_version=__version__,
        experiment_id=experiment_id(config.name, config.model, config.backend, chash, started_at),
        name=config.name,
        config_hash=chash,
        config=to_dict(config),
        backend=config.backend,
        model=config.model,
        status="failed",
        error=error,
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        packages={"llem-core": __version__},
        energy=Energy(measured=False, not_measured_reason="the run was refused before it started"),
        notes=["refused before loading: nothing was measured"],
        unvalidated=unvalidated_settings(config),
    )


def _footprint(config: ExperimentBase, energy: Energy) -> Energy:
    """The measured energy as gCO2e and cost, at the rates the config or the environment give."""
    intensity, price, currency = footprint_rates(config)
    grams, cost = footprint(energy.total_j, intensity, price)
    return msgspec.structs.replace(
        energy,
        carbon_intensity_g_per_kwh=intensity,
        carbon_g_co2e=grams,
        price_per_kwh=price,
        cost=cost,
        currency=currency if price is not None else None,
    )


def footprint_rates(config: ExperimentBase) -> tuple[float | None, float | None, str | None]:
    """(gCO2e/kWh, price/kWh, currency) from the config, else LLEM_CARBON_INTENSITY_G_PER_KWH,
    LLEM_PRICE_PER_KWH and LLEM_CURRENCY; a malformed variable is a UserError (the lifecycle asks before
    anything loads)."""
    return (
        rate(config.carbon_intensity_g_per_kwh, "LLEM_CARBON_INTENSITY_G_PER_KWH"),
        rate(config.price_per_kwh, "LLEM_PRICE_PER_KWH"),
        config.currency or os.environ.get("LLEM_CURRENCY") or None,
    )


def _energy_header(state: RunState) -> Energy:
    meter = state.meter
    return Energy(
        measured=False,
        not_measured_reason=meter.reason if not meter.available else None,
        sampler=meter.name,
        scope=meter.scope,
        devices=list(meter.devices),
        counter_period_s=meter.update_period_s,
        read_cost_s=meter.read_cost_s,
    )


def _window_metrics(
    state: RunState, rec: WindowRecord, metrics: Metrics, energy: Energy, notes: list[str]
) -> tuple[Metrics, Energy]:
    window_s = rec.end_s - rec.start_s
    requests = [r for out in rec.outputs for r in out.requests]
    serving = _serving(state, rec, requests) if rec.serving_window is not None else None
    if serving is not None:
        input_tokens, output_tokens = serving.input_tokens, serving.output_tokens
        n_requests = serving.serving.n_completed
        lat = m.Latencies(serving.ttft_s, serving.itl_s, serving.e2e_s, serving.notes)
    else:
        input_tokens = sum(r.input_tokens for r in requests)
        output_tokens = sum(r.output_tokens for r in requests)
        n_requests = len(requests)
        lat = m.latencies(rec.outputs, rec.durations_s)
    cached = [r.cached_input_tokens for r in requests if r.cached_input_tokens is not None]
    notes += lat.notes
    for out in rec.outputs:
        notes += [n for n in out.notes if n not in notes]
    if rec.telemetry_note:
        notes.append(rec.telemetry_note)
    if state.n_batches > 1 and len(rec.outputs[-1].requests) != len(rec.outputs[0].requests):
        notes.append(
            f"the last batch has {len(rec.outputs[-1].requests)} prompts, "
            f"the others {len(rec.outputs[0].requests)}"
            " (n_prompts is not a multiple of the batch size)"
        )
    # Anything that makes this window unlike what its configuration should give (see results.window_checks).
    sizes = [len(out.requests) for out in rec.outputs]
    config = state.config
    for note in (
        batch_spread_note(rec.durations_s, sizes),
        short_output_note(output_tokens, len(requests), config.max_output_tokens, config.fixed_output_length),
    ):
        if note is not None:
            notes.append(note)

    energy, per_token = _window_energy(state, rec, energy, input_tokens, output_tokens, notes)
    flops, bytes_moved, mfu, mbu, peak_source = _utilisation(state, rec, window_s, notes)
    peak_mib, peak_src = rec.peak_memory_mib, rec.peak_memory_source
    if peak_mib is None:
        peak_mib, peak_src = _nvml_peak_memory(rec.samples)
    serving_metrics = None
    if serving is not None:
        per_req, per_good, dyn_req = per_request_energy(
            serving.serving,
            energy.total_j if per_token.note is None else None,
            energy.dynamic_j if per_token.note is None else None,
        )
        serving_metrics = msgspec.structs.replace(
            serving.serving,
            energy_per_request_j=per_req,
            energy_per_good_request_j=per_good,
            dynamic_energy_per_request_j=dyn_req,
        )
    metrics = msgspec.structs.replace(
        metrics,
        serving=serving_metrics,
        n_requests=n_requests,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=sum(cached) if cached else None,
        output_tokens_per_s=m.rate(output_tokens, window_s),
        total_tokens_per_s=m.rate(input_tokens + output_tokens, window_s),
        requests_per_s=m.rate(n_requests, window_s),
        energy_per_output_token_j=per_token.energy_per_output_token_j,
        energy_per_token_j=per_token.energy_per_token_j,
        dynamic_energy_per_output_token_j=per_token.dynamic_energy_per_output_token_j,
        **_phase_per_token(energy, per_token, input_tokens, output_tokens),
        window_repetitions=rec.repetitions,
        ttft_s=lat.ttft_s,
        itl_s=lat.itl_s,
        e2e_s=lat.e2e_s,
        timing_source=", ".join(sorted({out.timing_source for out in rec.outputs})),
        peak_memory_mib=peak_mib,
        peak_memory_source=peak_src,
        flops=flops,
        bytes_moved=bytes_moved,
        mfu=mfu,
        mbu=mbu,
        peak_source=peak_source,
    )
    return metrics, energy


def _per_device(
    state: RunState, rec: WindowRecord, per_device_j: tuple[float, ...], window_s: float
) -> list[DeviceEnergy]:
    """Each measured device's energy, bound, idle power, dynamic energy and mean utilisation in the window."""
    assert rec.edge_start is not None and rec.edge_end is not None  # a window with energy has both edges
    bounds = device_bounds_j(state.meter, rec.edge_start, rec.edge_end)
    idle = state.baseline.per_device_w if state.baseline is not None else None
    out = []
    for i, (name, joules) in enumerate(zip(state.meter.devices, per_device_j, strict=True)):
        idle_w = idle[i] if idle is not None and i < len(idle) else None
        gpu = state.gpu_indices[i] if i < len(state.gpu_indices) else None
        utils = [s.utilization_pct for s in rec.samples if s.gpu == gpu and s.utilization_pct is not None]
        out.append(
            DeviceEnergy(
                device=name,
                energy_j=joules,
                bound_j=bounds[i],
                idle_power_w=idle_w,
                dynamic_j=joules - idle_w * window_s if idle_w is not None else None,
                utilization_pct_mean=sum(utils) / len(utils) if utils else None,
            )
        )
    return out


def _phase_per_token(
    energy: Energy, per_token: m.PerToken, input_tokens: int, output_tokens: int
) -> dict[str, float | None]:
    """Prefill J per input token and decode J per output token, when the split was measured (not withheld)."""
    keys = (
        "prefill_energy_per_input_token_j",
        "decode_energy_per_output_token_j",
        "dynamic_prefill_energy_per_input_token_j",
        "dynamic_decode_energy_per_output_token_j",
    )
    if energy.phase_split != "measured" or per_token.energy_per_output_token_j is None:
        return dict.fromkeys(keys)
    values = (
        (energy.prefill_j, input_tokens),
        (energy.decode_j, output_tokens),
        (energy.dynamic_prefill_j, input_tokens),
        (energy.dynamic_decode_j, output_tokens),
    )
    return {k: (j / n if j is not None and n > 0 else None) for k, (j, n) in zip(keys, values, strict=True)}


def _serving(state: RunState, rec: WindowRecord, requests: list[Any]) -> ServingWindow:
    """Counts, rates and latencies of a serving run's window (energy is added by the caller)."""
    load, slo = state.config.load, state.config.slo
    assert load is not None and rec.serving_window is not None
    slo_ms = {k: v for k, v in msgspec.structs.asdict(slo).items() if v is not None} if slo else {}
    offered = load.request_rate if load.arrival != "closed-loop" else None
    assert not isinstance(offered, list)  # run.serving.rate_points gave each experiment one rate
    return serving_window(
        requests,
        *rec.serving_window,
        arrival=load.arrival,
        offered_rate_per_s=offered,
        max_concurrency=load.max_concurrency,
        slo_ms=slo_ms,
        fixed_output_tokens=state.config.max_output_tokens if state.config.fixed_output_length else None,
    )


def _window_energy(
    state: RunState,
    rec: WindowRecord,
    energy: Energy,
    input_tokens: int,
    output_tokens: int,
    notes: list[str],
) -> tuple[Energy, m.PerToken]:
    mc = state.config.measurement
    if rec.edge_start is None or rec.edge_end is None:
        return energy, m.PerToken(None, None, None, None)
    we = window_energy(state.meter, rec.edge_start, rec.edge_end, min_window_periods=mc.min_window_periods)
    baseline = state.baseline
    idle_w = baseline.power_w if baseline is not None else None
    dynamic = m.dynamic_energy_j(we.energy_j, idle_w, we.duration_s)
    if state.baseline_note:
        notes.append(state.baseline_note)
    if dynamic is not None and dynamic < 0:
        notes.append(
            f"dynamic energy is negative ({dynamic:.3g} J): the window drew less than the idle baseline "
            f"({idle_w:.1f} W); the baseline may be stale (measurement.baseline: fresh re-measures it)"
        )
    if state.meter.update_period_s is None:
        notes.append("energy counter period unknown: the short-window check was not applied")
    reason = m.short_window_reason(
        we.duration_s, state.meter.update_period_s, mc.min_window_periods, we.energy_j, we.bound_j
    )
    if reason is not None and mc.allow_short_window:
        notes.append(
            "short window: per-token energy reported anyway (allow_short_window); "
            f"its uncertainty is ± {_j(we.bound_j)} of {we.energy_j:.3g} J"
        )
    per_token = m.per_token_energy(
        we.energy_j,
        dynamic,
        input_tokens,
        output_tokens,
        withheld_reason=None if mc.allow_short_window else reason,
    )
    if per_token.note:
        notes.append(per_token.note)
    split = _phase_split(state, rec, we.energy_j, we.bound_j, dynamic, notes)
    energy = msgspec.structs.replace(
        energy,
        measured=True,
        window_s=we.duration_s,
        total_j=we.energy_j,
        total_j_bound=we.bound_j,
        per_device_j=list(we.per_device_j),
        per_device=_per_device(state, rec, we.per_device_j, we.duration_s),
        mean_power_w=we.mean_power_w,
        idle_power_w=idle_w,
        baseline_source=baseline.source if baseline is not None else None,
        baseline_state=baseline.state if baseline is not None else None,
        baseline_measured_at=baseline.measured_at if baseline is not None else None,
        baseline_checked_at=baseline.checked_at if baseline is not None else None,
        dynamic_j=dynamic,
        prefill_j=split.prefill_j,
        decode_j=split.decode_j,
        phase_bound_j=split.bound_j,
        phase_split=split.how,
        prefill_passes=split.passes,
        prefill_window_s=split.prefill_window_s,
        dynamic_prefill_j=split.dynamic_prefill_j,
        dynamic_decode_j=split.dynamic_decode_j,
        short_window=we.short,
        min_window_s=(
            mc.min_window_periods * state.meter.update_period_s if state.meter.update_period_s else None
        ),
    )
    return energy, per_token


@dataclass(frozen=True)
class PhaseSplit:
    prefill_j: float | None = None
    decode_j: float | None = None
    how: str | None = None
    bound_j: float | None = None
    passes: int | None = None
    prefill_window_s: float | None = None
    dynamic_prefill_j: float | None = None
    dynamic_decode_j: float | None = None


def _phase_split(
    state: RunState,
    rec: WindowRecord,
    total_j: float,
    bound_j: float | None,
    dynamic_j: float | None,
    notes: list[str],
) -> PhaseSplit:
    """Prefill/decode energy: measured by the prefill-only passes, else estimated by time share (labelled)."""
    mc = state.config.measurement
    pre = rec.prefill
    if pre is not None:
        notes += pre.notes
    if pre is not None and pre.edge_start is not None and pre.edge_end is not None and pre.passes > 0:
        pe = window_energy(
            state.meter, pre.edge_start, pre.edge_end, min_window_periods=mc.min_window_periods
        )
        # the window ran every batch `repetitions` times; one prefill pass runs every batch once
        scale = rec.repetitions / pre.passes
        prefill_j = pe.energy_j * scale
        pre_bound = pe.bound_j * scale if pe.bound_j is not None else None
        problem = None
        if pre.cached_input_tokens:
            problem = (
                f"the prefill passes hit the prefix cache ({pre.cached_input_tokens} of {pre.input_tokens} "
                "input tokens cached), so they do not cost what the window's prefills cost"
            )
        elif pe.short:
            problem = f"the prefill passes lasted only {pe.duration_s:.3g} s (under min_window_periods)"
        elif prefill_j > total_j:
            problem = f"the prefill passes ({prefill_j:.3g} J per window) exceed the window ({total_j:.3g} J)"
        if problem is None:
            idle = state.baseline.power_w if state.baseline is not None else None
            dyn_pre = (pe.energy_j - idle * pe.duration_s) * scale if idle is not None else None
            return PhaseSplit(
                prefill_j=prefill_j,
                decode_j=total_j - prefill_j,
                how="measured",
                bound_j=pre_bound,
                passes=pre.passes,
                prefill_window_s=pe.duration_s,
                dynamic_prefill_j=dyn_pre,
                dynamic_decode_j=dynamic_j - dyn_pre
                if dyn_pre is not None and dynamic_j is not None
                else None,
            )
        notes.append(f"prefill energy not measured: {problem}; the split below is estimated by time share")
    if state.caps.continuous_batching and state.n_batches == 1 and len(rec.outputs[0].requests) > 1:
        notes.append(
            "prefill/decode energy not split: the engine overlaps prefill and decode of different requests "
            "and "
            "reported no phase boundary"
        )
        return PhaseSplit()
    prefill_s = []
    for out, duration in zip(rec.outputs, rec.durations_s, strict=True):
        ttfts = [r.ttft_s for r in out.requests if r.ttft_s is not None]
        if not ttfts:
            return PhaseSplit()
        prefill_s.append(min(max(ttfts), duration))
    window_s = sum(rec.durations_s)
    if window_s <= 0:
        return PhaseSplit()
    share = sum(prefill_s) / window_s
    notes.append(
        "prefill/decode energy estimated by time share "
        f"({share:.1%} prefill), assuming equal power in both phases"
        + ("" if pre is not None else " (measurement.prefill_energy: estimate, or energy not measured)")
    )
    return PhaseSplit(total_j * share, total_j * (1 - share), "estimated")


def _utilisation(
    state: RunState, rec: WindowRecord, window_s: float, notes: list[str]
) -> tuple[float | None, float | None, float | None, float | None, str | None]:
    """(flops, bytes, mfu, mbu, peak source) from the architecture and the devices' datasheet peaks."""
    config = state.config
    try:
        info = model_info(config.model, local_only=True)
    except UserError as exc:
        notes.append(f"FLOPs and bytes not estimated: {exc}")
        return None, None, None, None, None
    flops = sum(
        request_flops(info, r.input_tokens, r.output_tokens) for out in rec.outputs for r in out.requests
    )
    bpv = BYTES_PER_VALUE[config.precision]
    bytes_moved = sum(
        batch_bytes(info, [(r.input_tokens, r.output_tokens) for r in out.requests], bpv)
        for out in rec.outputs
    )
    names = [g.get("name") for g in state.environment.get("gpus", [])]
    if not names:
        return flops, bytes_moved, None, None, None
    peaks = [device_peak(name, config.precision) for name in names]
    peak_flops = sum(p[0] for p in peaks if p[0]) if all(p[0] for p in peaks) else None
    peak_bw = sum(p[1] for p in peaks if p[1]) if all(p[1] for p in peaks) else None
    source = ", ".join(sorted({p[2] for p in peaks if p[2]})) or None
    if peak_flops is None or peak_bw is None:
        notes.append(
            f"MFU/MBU not computed: no peak known for {', '.join(map(str, names))} "
            "(set LLEM_PEAK_TFLOPS and LLEM_PEAK_BANDWIDTH_GBS per device)"
        )
    notes.append(
        "mfu/mbu are estimates from the architecture at the config's precision (quantised weights and "
        "speculative decoding are not modelled)"
    )
    mfu = flops / window_s / peak_flops if peak_flops and window_s > 0 else None
    mbu = bytes_moved / window_s / peak_bw if peak_bw and window_s > 0 else None
    return flops, bytes_moved, mfu, mbu, source


def _nvml_peak_memory(samples: list[TelemetrySample]) -> tuple[float | None, str | None]:
    """Peak of NVML's memory used, summed over GPUs (all processes on them, so it includes other users)."""
    per_gpu: dict[int, float] = {}
    for s in samples:
        if s.memory_used_mib is not None:
            per_gpu[s.gpu] = max(per_gpu.get(s.gpu, 0.0), s.memory_used_mib)
    if not per_gpu:
        return None, None
    return sum(per_gpu.values()), "nvml memory used (peak per GPU, all processes)"


def timeseries_table(
    samples: list[TelemetrySample], rec: WindowRecord | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows and columns of the timeseries: one row per GPU sample, with time relative to the window start."""
    columns = ["t_rel_s", *(f.name for f in msgspec.structs.fields(TelemetrySample))]
    origin = rec.start_s if rec is not None and rec.start_s else (samples[0].t_s if samples else 0.0)
    rows = []
    for s in samples:
        row = msgspec.structs.asdict(s)
        row["t_rel_s"] = s.t_s - origin
        rows.append(row)
    return rows, columns


def _j(value: float | None) -> str:
    return f"{value:.2g} J" if value is not None else "an unknown amount (unaligned edges)"
