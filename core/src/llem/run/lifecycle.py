"""The experiment lifecycle: validate, build, load, baseline, settle, warm-up, window, prefill, result.

Only the measured window is timed for throughput and bracketed by energy-counter edges; everything else is
timed and reported on its own. The window follows the warm-up directly, so it starts in the steady state the
warm-up reached (an idle baseline or a temperature wait between them would let clocks fall first). After the
window, prefill-only passes of the same batches measure prefill energy by the counter. The backend is unloaded
on every path once loaded. User errors (bad config,
missing prompt file, a setting this machine cannot run) raise before anything is loaded and write nothing; any
other failure after loading is recorded as a complete result with status "failed" (KeyboardInterrupt is
recorded, then re-raised).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from llem.errors import UserError, one_line
from llem.files import writable_dir_problem
from llem.measure.baseline import baseline_key, idle_baseline
from llem.measure.devices import detect_devices
from llem.measure.energy import at_time
from llem.measure.environment import gpu_temperatures, settle_temperature, snapshot_environment
from llem.measure.meters import open_meter
from llem.measure.nvml import NvmlUnavailable
from llem.measure.telemetry import TelemetrySampler, throttle_events
from llem.measure.usage import gpus_in_use, place, this_process_tree
from llem.models.build import cache_root
from llem.plugins.contract import EngineT, HandleT
from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import Batch, BatchOutput, Prompt
from llem.plugins.validate import validate_experiment
from llem.prompts import load_prompts
from llem.results.write import write_experiment_or_fallback
from llem.run.assemble import assemble, footprint_rates, timeseries_table
from llem.run.batching import batch_size, split
from llem.run.output_checks import check_batch_output
from llem.run.prefill import PrefillRecord, measure_prefill
from llem.run.progress import Progress, ProgressEvent, no_progress
from llem.run.serving import rate_points, run_serving_window
from llem.run.warmup import run_warmup

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.measure.baseline import Baseline
    from llem.measure.energy import EnergyMeter, EnergyReading
    from llem.measure.telemetry import TelemetrySample
    from llem.plugins.manager import Backend, LlemPlugins
    from llem.plugins.types import Capabilities, DeviceInfo
    from llem.results.schema import ExperimentResult

# Warm-up batches draw sampling seeds from a range the measured batches never use.
_WARMUP_SEED_OFFSET = 1_000_003
# Passes over the measured batches at most, when a single pass is shorter than min_window_periods.
_MAX_REPETITIONS = 1000


@dataclass
class WindowRecord:
    """What the measured window produced, before any metric is computed."""

    start_s: float = 0.0
    end_s: float = 0.0
    outputs: list[BatchOutput] = field(default_factory=list)
    durations_s: list[float] = field(default_factory=list)
    edge_start: EnergyReading | None = None
    edge_end: EnergyReading | None = None
    repetitions: int = 1  # passes over the measured batches (more than one when a single pass is too short)
    prefill: PrefillRecord | None = None
    samples: list[TelemetrySample] = field(default_factory=list)
    telemetry_note: str | None = None
    peak_memory_mib: float | None = None
    peak_memory_source: str | None = None
    serving_window: tuple[float, float] | None = None  # serving runs: [open, close) on the requests' axis


@dataclass
class RunState:
    """Everything the lifecycle learned; `assemble` turns it into an ExperimentResult."""

    config: ExperimentBase
    caps: Capabilities
    device: DeviceInfo
    gpu_indices: list[int]
    meter: EnergyMeter
    prompts_source: str
    batch_size: int
    n_batches: int
    started_at: datetime
    backend_distribution: str | None = None
    backend_version: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    baseline: Baseline | None = None
    baseline_note: str | None = None
    window: WindowRecord | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    error_traceback: str | None = None
    end_temperatures_c: dict[int, float | None] = field(default_factory=dict)
    throttle_events: list[str] = field(default_factory=list)


def run_experiment(
    config: ExperimentBase,
    *,
    plugins: LlemPlugins | None = None,
    output_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Run one experiment and write its result folder; returns the result (status "ok" or "failed").

    output_dir: where the result folder goes (default: config.output_dir). Raises UserError, writing nothing,
    when the config cannot run on this machine, or when it holds several request rates (use run_experiments),
    or output_dir cannot be written. If writing fails at the end anyway, the result goes under
    llem.files.fallback_dir() with a note; the "write" done event's detail names the folder written.
    """
    if config.load is not None and isinstance(config.load.request_rate, list):
        raise UserError(
            "load.request_rate is a list: one experiment per rate; use run_experiments (llem run does)"
        )
    return run_experiments(config, plugins=plugins, output_dir=output_dir, progress=progress)[0]


def run_experiments(
    config: ExperimentBase,
    *,
    plugins: LlemPlugins | None = None,
    output_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> list[ExperimentResult]:
    """Run the experiment(s) of `config` and write one result folder each; returns the results in order.

    One experiment, unless `load.request_rate` is a list: then one per rate, all against the same loaded
    backend (a server started once), each written as soon as it finishes. Raises UserError, writing nothing,
    when the config cannot run on this machine or output_dir cannot be written.
    """
    if plugins is None:
        plugins = get_plugin_manager()
    emit = progress or no_progress
    started_at = datetime.now(UTC)
    emit(ProgressEvent(stage="validate", state="start"))
    device = detect_devices()
    backend = plugins.backend(config.backend)
    problems = validate_experiment(config, device, plugins)  # includes the model checks
    if problems:
        raise UserError(f"this config cannot run here: {'; '.join(problems)}")
    footprint_rates(config)  # a malformed LLEM_PRICE_PER_KWH (...) is refused now, not after the run
    unwritable = writable_dir_problem(output_dir or config.output_dir)
    if unwritable is not None:
        raise UserError(f"output folder is not writable: {unwritable}")
    caps = backend.capabilities()
    if config.load is not None and not caps.serving:
        raise UserError(
            f"load: backend '{config.backend}' does not serve requests; a load section needs a serving "
            "backend (e.g. server, or vllm with mode: server; see docs/serving.md)"
        )
    prompt_set = load_prompts(config)
    gpu_indices = _gpu_indices(config, device)
    meter = open_meter(config.measurement, device, gpu_indices)
    try:
        if config.load is not None:  # a serving run: the backend gets every prompt and drives the window
            size = len(prompt_set.measured)
        else:
            size = batch_size(config.section(), caps, config.n_prompts)
        batches = split(prompt_set.measured, size)
        status = plugins.statuses.get(backend.entry.plugin_name)
        states = [
            RunState(
                config=point,
                caps=caps,
                device=device,
                gpu_indices=gpu_indices,
                meter=meter,
                prompts_source=prompt_set.source,
                batch_size=size,
                n_batches=len(batches),
                started_at=started_at,
                backend_distribution=status.distribution if status is not None else None,
                backend_version=status.version if status is not None else None,
            )
            for point in rate_points(config)
        ]
        emit(ProgressEvent(stage="validate", state="done"))
        results: list[ExperimentResult] = []

        def finish(state: RunState) -> None:
            results.append(_finish(state, output_dir, emit))

        interrupted: BaseException | None = None
        try:
            _execute(states, backend, batches, prompt_set.warmup, emit, finish)
        except UserError:
            raise
        except KeyboardInterrupt as exc:
            interrupted = exc
        except Exception as exc:
            for state in states[len(results) :]:
                if state.error is None:
                    state.error = one_line(exc)
                    state.error_traceback = traceback.format_exc()
        pending = states[len(results) :]  # a failure in build or load: every point failed with it
        if interrupted is not None:  # Ctrl-C: one record of it (the points not started are not results)
            pending = [] if results else pending[:1]
        for state in pending:
            if state.error is None and interrupted is not None:
                state.error = "interrupted by the user (KeyboardInterrupt)"
            finish(state)
        if interrupted is not None:
            raise interrupted
        return results
    finally:
        meter.close()


def _gpu_indices(config: ExperimentBase, device: DeviceInfo) -> list[int]:
    if config.measurement.gpu_indices is not None:
        return list(config.measurement.gpu_indices)
    return [g.index for g in device.gpus]


def _execute(
    states: list[RunState],
    backend: Backend[HandleT, EngineT],
    batches: list[list[Prompt]],
    warmup_prompts: Any,
    emit: Progress,
    finish: Any,
) -> None:
    """Build and load once, then measure each state (one per request rate) and `finish` it (write its result).

    A state whose measurement fails is finished as failed and the next one still runs. The last state is
    finished after the unload, so its result records the unload. A failure of build or load is recorded in
    every state and left for the caller to finish.
    """
    first = states[0]
    config = first.config
    environment = msgspec.to_builtins(snapshot_environment(first.gpu_indices))
    shared: dict[str, Any] = {}
    try:
        emit(ProgressEvent(stage="build", state="start"))
        t = time.perf_counter()
        engine = backend.build_engine(config, cache_root() / "engines")
        shared["build_s"] = time.perf_counter() - t
        emit(ProgressEvent(stage="build", state="done"))

        emit(ProgressEvent(stage="load", state="start", detail=config.model))
        t = time.perf_counter()
        handle = backend.load(config, engine)
        shared["load_s"] = time.perf_counter() - t
        emit(ProgressEvent(stage="load", state="done"))
    except UserError:
        raise
    except Exception as exc:
        for state in states:
            state.environment, state.error = environment, one_line(exc)
            state.error_traceback = traceback.format_exc()
            state.timings.update(shared)
        return
    finally:
        for state in states:
            state.environment = environment
            state.timings.update(shared)
    try:
        _measure_used_gpus(states)
        for k, state in enumerate(states):
            if len(states) > 1:
                state.notes.append(
                    f"one of {len(states)} request rates measured against the same loaded backend "
                    f"(load_s is that single start)"
                )
            try:
                _measure_state(state, backend, handle, batches, warmup_prompts, emit)
            except UserError:
                raise
            except KeyboardInterrupt:
                state.error = "interrupted by the user (KeyboardInterrupt)"
                finish(state)
                raise
            except Exception as exc:
                state.error = one_line(exc)
                state.error_traceback = traceback.format_exc()
            if k < len(states) - 1:
                finish(state)
    finally:
        last = states[-1]
        emit(ProgressEvent(stage="unload", state="start"))
        t = time.perf_counter()
        try:
            backend.unload(handle)
        except Exception as exc:  # the measurement is complete; a failing unload is noted, not fatal
            last.notes.append(f"backend unload failed: {one_line(exc)}")
        last.timings["unload_s"] = time.perf_counter() - t
        emit(ProgressEvent(stage="unload", state="done"))
    finish(last)


def _measure_state(
    state: RunState,
    backend: Backend[HandleT, EngineT],
    handle: HandleT,
    batches: list[list[Prompt]],
    warmup_prompts: Any,
    emit: Progress,
) -> None:
    """Take the baseline, settle, warm up and measure one experiment on a loaded backend."""
    _baseline(state, emit)
    _settle(state, emit)
    if state.config.load is not None:
        state.window = WindowRecord()
        _measure_serving(state, backend, handle, batches[0], warmup_prompts, state.window, emit)
        return
    warm_latencies = _warm_up(state, backend, handle, batches, warmup_prompts, emit)
    state.window = WindowRecord(repetitions=_repetitions(state, warm_latencies, len(batches)))
    _measure(state, backend, handle, batches, state.window, emit)
    if state.meter.available and state.config.measurement.prefill_energy == "passes":
        emit(ProgressEvent(stage="prefill", state="start"))
        t = time.perf_counter()
        state.window.prefill = measure_prefill(
            state.meter,
            state.config,
            batches,
            state.window.outputs[: len(batches)],
            lambda batch: _run_batch(backend, handle, state.config, batch)[0],
        )
        state.timings["prefill_s"] = time.perf_counter() - t
        emit(ProgressEvent(stage="prefill", state="done"))


def _measure_serving(
    state: RunState,
    backend: Backend[HandleT, EngineT],
    handle: HandleT,
    prompts: list[Prompt],
    warmup_prompts: Any,
    rec: WindowRecord,
    emit: Progress,
) -> None:
    load = state.config.load
    assert load is not None
    rate = f"{load.request_rate:g} req/s" if isinstance(load.request_rate, float | int) else load.arrival
    emit(ProgressEvent(stage="measure", state="start", current=0, total=1, detail=rate))
    state.timings["warmup_s"] = load.warmup_s
    run_serving_window(
        backend,
        handle,
        state.config,
        prompts,
        warmup_prompts(len(prompts)),
        rec,
        state.meter,
        lambda: _start_sampler(state, rec),
    )
    emit(ProgressEvent(stage="measure", state="done", current=1, total=1, detail=rate))


def _run_batch(
    backend: Backend[HandleT, EngineT],
    handle: HandleT,
    config: ExperimentBase,
    batch: Batch,
    *,
    check: bool = True,
) -> tuple[Any, float]:
    """Run one batch; returns its output and wall time (perf_counter around the generate call only).

    The output is checked (`check_batch_output`) unless `check` is False: the measured window checks its
    outputs after its end edge, so that no harness work runs between its batches."""
    t0 = time.perf_counter()
    out = backend.generate(handle, batch, config)
    elapsed = time.perf_counter() - t0
    return (check_batch_output(config.backend, batch, out, elapsed) if check else out), elapsed


def _warm_up(
    state: RunState,
    backend: Backend[HandleT, EngineT],
    handle: HandleT,
    batches: list[list[Prompt]],
    warmup_prompts: Any,
    emit: Progress,
) -> list[float]:
    config = state.config
    mc = config.measurement
    total = mc.warmup_batches if mc.warmup == "fixed" else mc.max_warmup_batches
    # Warm-up batches have the measured batches' size, so kernels, graphs and caches see the measured shapes.
    size = len(batches[0])
    emit(ProgressEvent(stage="warmup", state="start", current=0, total=total))

    def one(k: int) -> float:
        batch = Batch(
            prompts=warmup_prompts(size * (k + 1))[size * k :],
            max_new_tokens=config.max_output_tokens,
            fixed_output_length=config.fixed_output_length,
            index=k,
            phase="warmup",
            seed=config.random_seed + _WARMUP_SEED_OFFSET + k,
        )
        _, elapsed = _run_batch(backend, handle, config, batch)
        emit(ProgressEvent(stage="warmup", state="advance", current=k + 1, total=total))
        return elapsed

    outcome = run_warmup(one, mc)
    state.timings.update(
        warmup_s=outcome.duration_s,
        warmup_batches=outcome.batches,
        warmup_converged=outcome.converged,
        warmup_cv=outcome.cv,
    )
    if outcome.converged is False:
        state.notes.append(
            f"warm-up did not converge: batch latency CV "
            f"{outcome.cv if outcome.cv is not None else float('nan'):.3f}"
            f" >= warmup_cv {mc.warmup_cv} after {outcome.batches} batches (max_warmup_batches)"
        )
    emit(ProgressEvent(stage="warmup", state="done", current=outcome.batches, total=total))
    return outcome.latencies_s


def _repetitions(state: RunState, warm_latencies_s: list[float], n_batches: int) -> int:
    """Passes over the measured batches needed for a window of min_window_periods counter periods.

    Predicted from the warm-up batches after the first (they have the measured batches' size and output
    length), with a 25 % margin. One pass when energy is not measured, extension is off, or there was no
    warm-up to predict from.
    """
    mc = state.config.measurement
    period = state.meter.update_period_s
    if not (state.meter.available and period and mc.extend_short_window):
        return 1
    if not warm_latencies_s:
        state.notes.append("window length not predicted (no warm-up batches): the measured batches ran once")
        return 1
    # The first warm-up batch carries compilation, CUDA-graph capture and allocator growth: predict from the
    # later ones where there are any.
    one_pass_s = statistics.median(warm_latencies_s[1:] or warm_latencies_s) * n_batches
    target_s = 1.25 * mc.min_window_periods * period
    if one_pass_s >= target_s:
        return 1
    reps = min(math.ceil(target_s / max(one_pass_s, 1e-9)), _MAX_REPETITIONS)
    state.notes.append(
        f"one pass over the {n_batches} measured batch{'es' if n_batches != 1 else ''} would last about "
        f"{one_pass_s:.2g} s, under {mc.min_window_periods} counter periods "
        f"({mc.min_window_periods * period:.2g} s): the window repeats them {reps} times (same prompts; "
        "measurement.extend_short_window)"
    )
    return reps


def _measure_used_gpus(states: list[RunState]) -> None:
    """Sum the counters of the GPUs the loaded run uses (its process tree's compute contexts), and say so.

    Once per loaded backend: every state (one per request rate) shares the meter and the placement."""
    first = states[0]
    if not first.gpu_indices or not first.meter.available:
        return
    named = first.config.measurement.gpu_indices is not None
    placement = place(first.gpu_indices, gpus_in_use(this_process_tree()), named=named)
    if placement.measure != first.gpu_indices:
        first.meter.keep([first.gpu_indices.index(i) for i in placement.measure])
    for state in states:
        state.notes += placement.notes
        state.gpu_indices = placement.measure


def _baseline(state: RunState, emit: Progress) -> None:
    mc = state.config.measurement
    if not state.meter.available:
        return
    if mc.baseline == "none":
        state.baseline_note = "no idle baseline (measurement.baseline: none): dynamic energy not reported"
        return
    emit(
        ProgressEvent(
            stage="baseline", state="start", detail=f"{mc.baseline}, up to {mc.baseline_duration_s:g} s"
        )
    )
    config = state.config
    idle_state = f"{config.backend} backend, {config.model} ({config.precision}) loaded, idle"
    t = time.perf_counter()
    state.baseline = idle_baseline(
        state.meter, mc, baseline_key(list(state.meter.devices), idle_state), idle_state
    )
    state.timings["baseline_s"] = time.perf_counter() - t
    b = state.baseline
    if b is not None and b.source == "cached" and b.check_power_w is None:
        state.baseline_note = (
            f"idle baseline reused from the cache without a check: measured {b.measured_at}, last confirmed "
            f"{b.checked_at}, less than measurement.baseline_recheck_s ({mc.baseline_recheck_s:g} s) before"
        )
    emit(ProgressEvent(stage="baseline", state="done"))


def _settle(state: RunState, emit: Progress) -> None:
    mc = state.config.measurement
    if not mc.settle_temperature:
        return
    if not state.gpu_indices:
        state.notes.append("settle_temperature: no GPU to settle; skipped")
        return
    emit(ProgressEvent(stage="settle", state="start", detail=f"until ΔT < {mc.settle_delta_c:g} °C"))
    settled, waited = settle_temperature(state.gpu_indices, mc.settle_delta_c, mc.settle_timeout_s)
    state.timings["settle_s"] = waited
    if not settled:
        state.notes.append(f"GPU temperature did not settle within {mc.settle_timeout_s:g} s")
    emit(ProgressEvent(stage="settle", state="done"))


def _measure(
    state: RunState,
    backend: Backend[HandleT, EngineT],
    handle: HandleT,
    batches: list[list[Prompt]],
    rec: WindowRecord,
    emit: Progress,
) -> None:
    """The measured window: every batch (`rec.repetitions` times), between two energy-counter edges.

    Nothing in it but the backend's generate calls: no counter reads, no synchronisation, no output checks
    (they run after the end edge), no progress work beyond a counter increment between batches.
    """
    config = state.config
    meter = state.meter
    n = len(batches) * rec.repetitions
    emit(ProgressEvent(stage="measure", state="start", current=0, total=n))
    sampler = _start_sampler(state, rec)
    torch_cuda = _torch_cuda()
    if torch_cuda is not None:
        for i in range(torch_cuda.device_count()):
            torch_cuda.reset_peak_memory_stats(i)
    ran: list[tuple[Batch, Any, float]] = []  # checked after the end edge, outside the window
    try:
        edge = meter.read_edge() if meter.available else None
        rec.start_s = time.perf_counter()
        if edge is not None:
            rec.edge_start = at_time(edge, rec.start_s)
        for rep in range(rec.repetitions):
            for k, prompts in enumerate(batches):
                batch = Batch(
                    prompts=prompts,
                    max_new_tokens=config.max_output_tokens,
                    fixed_output_length=config.fixed_output_length,
                    index=k,
                    phase="measure",
                    seed=config.random_seed + k,
                )
                out, elapsed = _run_batch(backend, handle, config, batch, check=False)
                ran.append((batch, out, elapsed))
                emit(
                    ProgressEvent(
                        stage="measure", state="advance", current=rep * len(batches) + k + 1, total=n
                    )
                )
        rec.end_s = time.perf_counter()
        if rec.edge_start is not None:
            rec.edge_end = meter.window_end(rec.edge_start, rec.end_s)
        for batch, out, elapsed in ran:
            rec.outputs.append(check_batch_output(config.backend, batch, out, elapsed))
            rec.durations_s.append(elapsed)
    finally:
        if sampler is not None:
            rec.samples = list(sampler.stop())
            if sampler.error:
                rec.telemetry_note = sampler.error
    if torch_cuda is not None:
        peak = sum(torch_cuda.max_memory_allocated(i) for i in range(torch_cuda.device_count()))
        if peak > 0:
            rec.peak_memory_mib = peak / 2**20
            rec.peak_memory_source = "torch.cuda.max_memory_allocated (this process, all visible devices)"
    emit(ProgressEvent(stage="measure", state="done", current=n, total=n))


def _start_sampler(state: RunState, rec: WindowRecord) -> Any:
    mc = state.config.measurement
    if not state.gpu_indices:
        return None
    try:
        return TelemetrySampler(state.gpu_indices, mc.sample_interval_s).start()
    except NvmlUnavailable as exc:
        rec.telemetry_note = f"no GPU telemetry: {exc}"
        return None


def _torch_cuda() -> Any:
    """torch.cuda if torch is already imported (by the backend) and CUDA is usable; never imports torch."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return torch.cuda if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    except Exception:
        return None


def _finish(state: RunState, output_dir: str | Path | None, emit: Progress) -> ExperimentResult:
    if state.gpu_indices:
        state.end_temperatures_c = gpu_temperatures(state.gpu_indices)
    if state.window is not None:
        state.throttle_events = throttle_events(state.window.samples)
    result = assemble(state)
    emit(ProgressEvent(stage="write", state="start"))
    table = None
    if state.config.measurement.timeseries:
        table = timeseries_table(state.window.samples if state.window else [], state.window)
    folder = write_experiment_or_fallback(
        Path(output_dir or state.config.output_dir), result, timeseries=table
    )
    emit(ProgressEvent(stage="write", state="done", detail=str(folder)))
    return result
