"""The result of one experiment (result.json): a versioned msgspec Struct shared by `llem run` and studies.

Energy fields are None, never 0, when energy was not measured; `energy.not_measured_reason` then says why.
Bump SCHEMA_VERSION on any change that renames or removes a field or changes its meaning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

SCHEMA_VERSION = 1


class _Block(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """Result blocks ignore unknown fields, so an older llem can read a newer result's known parts."""


class LatencyStats(_Block):
    """Distribution of one latency over requests (or, for ITL, over all inter-token gaps)."""

    n: Annotated[int, Meta(description="Number of values.")] = 0
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


class Timings(_Block):
    """Wall-clock time of each lifecycle step (seconds); only `window_s` is inside the measured window."""

    build_s: float | None = None
    load_s: float | None = None
    warmup_s: float | None = None
    warmup_batches: int | None = None
    warmup_converged: Annotated[
        bool | None, Meta(description="warmup: converge only: whether latency CV fell below warmup_cv.")
    ] = None
    warmup_cv: Annotated[float | None, Meta(description="CV of the last warm-up batch latencies.")] = None
    baseline_s: float | None = None
    settle_s: float | None = None
    window_s: Annotated[
        float | None, Meta(description="Measured window: first batch start to last batch end (perf_counter).")
    ] = None
    prefill_s: Annotated[
        float | None,
        Meta(description="Prefill-only passes after the window that measure prefill energy (passes)."),
    ] = None
    unload_s: float | None = None


class DeviceEnergy(_Block):
    """One measured device's share of the window."""

    device: Annotated[str, Meta(description="The device as the meter names it (GPU index, name, UUID).")]
    energy_j: float
    bound_j: Annotated[float | None, Meta(description="± bound of energy_j (this device's edge powers).")] = (
        None
    )
    idle_power_w: Annotated[float | None, Meta(description="This device's idle baseline (W).")] = None
    dynamic_j: float | None = None
    utilization_pct_mean: Annotated[
        float | None, Meta(description="Mean GPU utilisation over the window's telemetry samples (%).")
    ] = None


class Energy(_Block):
    """Energy over the measured window, from the energy counter's difference at the window edges."""

    measured: bool = False
    not_measured_reason: str | None = None
    sampler: Annotated[str | None, Meta(description="Energy source: nvml, rapl or none.")] = None
    scope: Annotated[
        str | None, Meta(description="What the counter covers, e.g. 'gpu' or 'cpu-package'.")
    ] = None
    devices: list[str] = msgspec.field(default_factory=list)
    counter_period_s: Annotated[float | None, Meta(description="Measured update period of the counter.")] = (
        None
    )
    read_cost_s: float | None = None
    window_s: Annotated[
        float | None, Meta(description="Time between the two edge readings (>= timings.window_s).")
    ] = None
    total_j: float | None = None
    total_j_bound: Annotated[
        float | None, Meta(description="± bound on total_j from the counter period.")
    ] = None
    per_device_j: list[float] | None = None
    per_device: Annotated[
        list[DeviceEnergy] | None,
        Meta(description="Per measured device: energy, bound, idle baseline, dynamic energy, utilisation."),
    ] = None
    mean_power_w: float | None = None
    idle_power_w: Annotated[
        float | None,
        Meta(description="Idle power in the experiment's own state (model loaded, nothing running)."),
    ] = None
    baseline_source: Annotated[str | None, Meta(description="'measured' or 'cached' (and how old).")] = None
    baseline_state: str | None = None
    baseline_measured_at: str | None = None
    baseline_checked_at: Annotated[
        str | None,
        Meta(description="When the idle baseline was last measured or confirmed by a quick idle check."),
    ] = None
    dynamic_j: Annotated[
        float | None, Meta(description="total_j − idle_power_w × energy window: the energy the work added.")
    ] = None
    prefill_j: Annotated[
        float | None, Meta(description="Energy of the window's prefills (to the first token of each batch).")
    ] = None
    decode_j: Annotated[float | None, Meta(description="total_j − prefill_j.")] = None
    phase_bound_j: Annotated[
        float | None,
        Meta(
            description="± bound on prefill_j (measured split only); decode_j = total_j − prefill_j is "
            "bounded by total_j_bound + phase_bound_j."
        ),
    ] = None
    phase_split: Annotated[
        Literal["measured", "estimated"] | None,
        Meta(
            description="measured: by prefill-only passes of the same batches after the window (their own "
            "counter window, see prefill_passes); estimated: split by time share."
        ),
    ] = None
    prefill_passes: Annotated[
        int | None,
        Meta(description="Prefill-only passes over the measured batches the split was measured on."),
    ] = None
    prefill_window_s: Annotated[float | None, Meta(description="Duration of the prefill passes (s).")] = None
    dynamic_prefill_j: Annotated[
        float | None, Meta(description="prefill_j − idle power × the window's prefill time.")
    ] = None
    dynamic_decode_j: Annotated[float | None, Meta(description="dynamic_j − dynamic_prefill_j.")] = None
    short_window: Annotated[
        bool, Meta(description="Window shorter than measurement.min_window_periods counter periods.")
    ] = False
    min_window_s: float | None = None
    carbon_intensity_g_per_kwh: Annotated[
        float | None, Meta(description="Grid carbon intensity used for carbon_g_co2e (gCO2e/kWh).")
    ] = None
    carbon_g_co2e: Annotated[
        float | None, Meta(description="total_j as emissions: kWh × carbon_intensity_g_per_kwh (gCO2e).")
    ] = None
    price_per_kwh: Annotated[float | None, Meta(description="Electricity price used for cost, per kWh.")] = (
        None
    )
    cost: Annotated[
        float | None, Meta(description="total_j as money: kWh × price_per_kwh (in currency).")
    ] = None
    currency: str | None = None


class ServingMetrics(_Block):
    """A serving run's window: every count and rate is of the measured window (docs/serving.md)."""

    arrival: Annotated[str | None, Meta(description="Arrival process (load.arrival).")] = None
    offered_rate_per_s: Annotated[
        float | None, Meta(description="load.request_rate (None for closed-loop load).")
    ] = None
    achieved_rate_per_s: Annotated[
        float | None, Meta(description="Requests actually sent in the window ÷ window length.")
    ] = None
    max_concurrency: int | None = None
    n_sent: Annotated[int, Meta(description="Requests sent inside the window.")] = 0
    n_completed: Annotated[
        int, Meta(description="Requests that finished (successfully) inside the window, whenever sent.")
    ] = 0
    n_failed: Annotated[
        int,
        Meta(description="Requests sent in the window that failed (HTTP error, dropped stream, timeout)."),
    ] = 0
    n_good: Annotated[int, Meta(description="Completed requests that met every SLO set.")] = 0
    goodput_requests_per_s: Annotated[
        float | None, Meta(description="n_good ÷ window length (all completed requests when no SLO is set).")
    ] = None
    slo: Annotated[dict[str, float], Meta(description="The SLOs requests were judged by (ms).")] = (
        msgspec.field(default_factory=dict)
    )
    tpot_s: Annotated[
        LatencyStats,
        Meta(description="Time per output token after the first, per request sent in the window."),
    ] = msgspec.field(default_factory=LatencyStats)
    energy_per_request_j: Annotated[
        float | None, Meta(description="Window energy ÷ n_completed (None when energy was not measured).")
    ] = None
    energy_per_good_request_j: Annotated[float | None, Meta(description="Window energy ÷ n_good.")] = None
    dynamic_energy_per_request_j: float | None = None
    output_length: Annotated[
        Literal["fixed", "counted"] | None,
        Meta(
            description="fixed: the server was asked for exactly max_output_tokens and every request got "
            "them; counted: lengths are whatever the server produced, counted from its token reports."
        ),
    ] = None


class Metrics(_Block):
    """Throughput, latency and per-token energy. Names say their denominator."""

    n_requests: int | None = None
    n_batches: int | None = None
    batch_size: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: Annotated[
        int | None, Meta(description="Input tokens served from a prefix cache (as the backend reports).")
    ] = None
    output_tokens_per_s: float | None = None
    total_tokens_per_s: float | None = None
    requests_per_s: float | None = None
    energy_per_output_token_j: float | None = None
    energy_per_token_j: Annotated[float | None, Meta(description="Energy ÷ (input + output tokens).")] = None
    dynamic_energy_per_output_token_j: float | None = None
    prefill_energy_per_input_token_j: Annotated[
        float | None, Meta(description="energy.prefill_j ÷ input tokens (measured split only).")
    ] = None
    decode_energy_per_output_token_j: Annotated[
        float | None, Meta(description="energy.decode_j ÷ output tokens (measured split only).")
    ] = None
    dynamic_prefill_energy_per_input_token_j: float | None = None
    dynamic_decode_energy_per_output_token_j: float | None = None
    window_repetitions: Annotated[
        int | None,
        Meta(description="Passes over the measured batches in the window (>1: one pass was too short)."),
    ] = None
    ttft_s: LatencyStats = msgspec.field(default_factory=LatencyStats)
    itl_s: LatencyStats = msgspec.field(default_factory=LatencyStats)
    e2e_s: LatencyStats = msgspec.field(default_factory=LatencyStats)
    timing_source: str | None = None
    peak_memory_mib: float | None = None
    peak_memory_source: str | None = None
    flops: Annotated[
        float | None, Meta(description="Estimated FLOPs of the window (from the architecture).")
    ] = None
    bytes_moved: Annotated[float | None, Meta(description="Estimated bytes read from device memory.")] = None
    mfu: Annotated[
        float | None, Meta(description="Model FLOPs utilisation: FLOPs/s ÷ the devices' peak.")
    ] = None
    mbu: Annotated[
        float | None, Meta(description="Memory bandwidth utilisation: bytes/s ÷ peak bandwidth.")
    ] = None
    peak_source: Annotated[
        str | None, Meta(description="Where the device peak came from (table or env).")
    ] = None
    serving: Annotated[
        ServingMetrics | None,
        Meta(description="Serving runs only: request rates, goodput and energy per request of the window."),
    ] = None


class ExperimentResult(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """One experiment's result: result.json in the experiment folder."""

    schema_version: int = SCHEMA_VERSION
    llem_version: str
    experiment_id: Annotated[str, Meta(description="The result folder's name.")]
    name: str | None = None
    config_hash: str
    config: dict[str, Any]
    backend: str
    model: str
    status: Literal["ok", "failed"]
    error: Annotated[str | None, Meta(description="One line: what failed (status failed only).")] = None
    error_traceback: str | None = None
    started_at: str
    finished_at: str | None = None
    environment: dict[str, Any] = msgspec.field(default_factory=dict)
    packages: dict[str, str] = msgspec.field(default_factory=dict)
    timings: Timings = msgspec.field(default_factory=Timings)
    energy: Energy = msgspec.field(default_factory=Energy)
    metrics: Metrics = msgspec.field(default_factory=Metrics)
    prompts_source: str | None = None
    notes: list[str] = msgspec.field(default_factory=list)
    unvalidated: Annotated[
        dict[str, Any], Meta(description="Escape-hatch kwargs passed to the backend without validation.")
    ] = msgspec.field(default_factory=dict)
    decoder: Annotated[
        dict[str, Any],
        Meta(
            description="The shared decoder settings as the backend used them: `strategy` (greedy or "
            "sampling), `applied` (field -> value sent) and `ignored` (field -> why it had no effect)."
        ),
    ] = msgspec.field(default_factory=dict)
    files: Annotated[dict[str, str], Meta(description="Other files of the result folder, by role.")] = (
        msgspec.field(default_factory=dict)
    )
