"""The summary `llem run` prints, as a person reads it: plain numbers, no 'None', nothing cut at the edge."""

from __future__ import annotations

from llem.results.schema import Energy, ExperimentResult, LatencyStats, Metrics, Timings
from llem.results.summary import fmt, summary


def result(**changes) -> ExperimentResult:
    base = dict(
        llem_version="0",
        experiment_id="x-20260101T000000Z-abcdef12",
        config_hash="abcdef1234567890",
        config={},
        backend="pytorch",
        model="random:llama-3.2-1b",
        status="ok",
        started_at="2026-01-01T00:00:00+00:00",
        metrics=Metrics(
            n_requests=64, n_batches=8, batch_size=8, input_tokens=8192, output_tokens=8192,
            output_tokens_per_s=2511.3, total_tokens_per_s=5022.6, requests_per_s=19.6,
            e2e_s=LatencyStats(mean=1.3104, p50=1.3, p90=1.42, p99=12.5),
            ttft_s=LatencyStats(mean=0.0123, p50=0.012, p90=0.015, p99=0.0161),
        ),
        energy=Energy(
            measured=True, sampler="nvml", scope="gpu", devices=["GPU-0"], total_j=12345.6,
            total_j_bound=23.4, mean_power_w=412.2,
        ),
        timings=Timings(window_s=29.95, load_s=3.2, warmup_s=1.1, warmup_batches=None),
    )  # fmt: skip
    base.update(changes)
    return ExperimentResult(**base)


def test_numbers_are_plain_never_exponents():
    assert [fmt(1310.4, 3), fmt(12345.6), fmt(0.0123, 3), fmt(29.95), fmt(2.0)] == [
        "1,310", "12,346", "0.0123", "29.95", "2",
    ]  # fmt: skip
    text = summary(result(), width=100)
    assert "e+0" not in text
    assert "mean 1,310  p50 1,300  p90 1,420  p99 12,500 ms" in text
    assert "12,346 ± 23 J" in text and "412.2 W" in text


def test_no_none_in_the_summary():
    text = summary(result(), width=100)
    assert "None" not in text
    assert text.endswith("load / warm-up    3.2 s / 1.1 s")  # warm-up batch count unknown: left out
    assert "(1 batch)" in summary(
        result(timings=Timings(load_s=1.0, warmup_s=0.5, warmup_batches=1)), width=100
    )


def test_long_values_and_notes_wrap_to_the_width():
    notes = ["energy per token withheld: the window is 3 counter periods long, " * 4]
    long_error = "RuntimeError: " + "the engine core died while generating; " * 5
    text = summary(result(status="failed", error=long_error, notes=notes), width=60)
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "the engine core died" in text and text.count("withheld") == 4


def test_emissions_and_cost_are_shown_when_rates_are_given():
    energy = Energy(
        measured=True, sampler="nvml", scope="gpu", devices=["GPU-0"], total_j=36_000.0, total_j_bound=20.0,
        carbon_intensity_g_per_kwh=400.0, carbon_g_co2e=4.0, price_per_kwh=0.3, cost=0.003, currency="EUR",
    )  # fmt: skip
    text = summary(result(energy=energy), width=100)
    assert "emissions         4 gCO2e at 400 g/kWh" in text
    assert "energy cost       0.003 EUR at 0.3 EUR/kWh" in text
    assert "emissions" not in summary(result(), width=100)
