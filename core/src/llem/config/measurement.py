"""How the measurement is taken: energy sampler, warm-up, idle baseline, timeseries."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from llem.config.base import Section
from llem.config.rules import custom


class MeasurementConfig(Section):
    """Measurement method. Defaults follow docs/methodology.md; change them only with a reason."""

    __rules__ = (
        custom(
            ("max_warmup_batches",),
            lambda o: o.warmup == "converge" and o.max_warmup_batches < o.warmup_batches,
            message="max_warmup_batches must be >= warmup_batches",
            reason="convergence warm-up runs at least warmup_batches and at most max_warmup_batches",
            resolution="raise max_warmup_batches or lower warmup_batches",
        ),
    )

    energy_sampler: Annotated[
        Literal["auto", "nvml", "rapl", "none"],
        Meta(
            description="Energy source: nvml (GPU energy counter), rapl (CPU package via "
            "/sys/class/powercap), none, or auto (nvml if a GPU with an energy counter is present, else rapl "
            "if readable, else none)."
        ),
    ] = "auto"
    gpu_indices: Annotated[
        list[Annotated[int, Meta(ge=0)]] | None,
        Meta(description="GPUs to measure, as NVML indices (None: the GPUs the run uses, all visible ones)."),
    ] = None
    sample_interval_s: Annotated[
        float,
        Meta(
            ge=0.01,
            le=10.0,
            description="Period of the background power/temperature/clock sampler (timeseries only; energy "
            "comes from the counter, not from these samples).",
        ),
    ] = 0.1
    timeseries: Annotated[bool, Meta(description="Record the power/temperature/clock timeseries.")] = True
    warmup: Annotated[
        Literal["fixed", "converge"],
        Meta(
            description="fixed: run warmup_batches batches; converge: run until batch latency varies by less "
            "than warmup_cv over the last warmup_batches batches (at most max_warmup_batches)."
        ),
    ] = "fixed"
    warmup_batches: Annotated[int, Meta(ge=0, description="Warm-up batches before the measured window.")] = 2
    max_warmup_batches: Annotated[int, Meta(ge=1, description="Cap for warmup: converge.")] = 20
    warmup_cv: Annotated[
        float, Meta(gt=0.0, le=1.0, description="Coefficient of variation that counts as converged.")
    ] = 0.05
    baseline: Annotated[
        Literal["cached", "fresh", "none"],
        Meta(
            description="Idle power baseline, measured with the model loaded and nothing running: cached "
            "(reuse a recent one if a short check agrees), fresh (measure every run), none (no baseline, so "
            "no dynamic energy)."
        ),
    ] = "cached"
    baseline_duration_s: Annotated[
        float, Meta(gt=0.0, le=600.0, description="How long to measure idle power.")
    ] = 5.0
    baseline_ttl_s: Annotated[
        float, Meta(ge=0.0, description="How long a cached baseline stays valid (seconds).")
    ] = 3600.0
    baseline_recheck_s: Annotated[
        float,
        Meta(
            ge=0.0,
            description="A cached baseline measured or confirmed by a quick check less than this many "
            "seconds ago is reused without a new check (a study's experiments follow each other within "
            "seconds); 0 checks every run.",
        ),
    ] = 300.0
    baseline_tolerance: Annotated[
        float,
        Meta(
            gt=0.0,
            le=1.0,
            description="Relative difference between a quick idle check and the cached baseline above which "
            "the baseline is measured again.",
        ),
    ] = 0.1
    settle_temperature: Annotated[
        bool,
        Meta(
            description="Before the window, wait until GPU temperature changes by less than settle_delta_c "
            "over 5 s (at most settle_timeout_s) instead of a fixed sleep."
        ),
    ] = False
    settle_delta_c: Annotated[
        float, Meta(gt=0.0, description="Temperature change that counts as settled.")
    ] = 1.0
    settle_timeout_s: Annotated[
        float, Meta(ge=0.0, description="Longest wait for temperature to settle.")
    ] = 60.0
    min_window_periods: Annotated[
        int,
        Meta(
            ge=1,
            description="Windows shorter than this many energy-counter update periods are flagged as short: "
            "their energy is reported with its bound, but per-token energy is withheld.",
        ),
    ] = 10
    extend_short_window: Annotated[
        bool,
        Meta(
            description="When one pass over the measured batches would be shorter than min_window_periods "
            "counter periods (predicted from the warm-up batches), repeat them (same prompts) until it is "
            "not; the result counts the repetitions."
        ),
    ] = True
    prefill_energy: Annotated[
        Literal["passes", "estimate"],
        Meta(
            description="passes: after the window, measure prefill energy by prefill-only passes (one output "
            "token) of the same batches, repeated for min_window_periods counter periods; estimate: split "
            "the window's energy by time share (assumes equal power in both phases)."
        ),
    ] = "passes"
    allow_short_window: Annotated[
        bool,
        Meta(description="Report per-token energy even for a short window (its uncertainty is large)."),
    ] = False
