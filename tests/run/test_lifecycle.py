"""The lifecycle with a test-only backend (conftest.FakeBackend) and, where energy is involved, a fake counter
(conftest.FakeMeter): a GPU energy counter cannot exist in CI, which has no GPU. Time is a fake clock
(conftest.FakeClock): no outcome depends on how busy the machine is."""

from __future__ import annotations

from pathlib import Path

import pytest
from llem.errors import UserError
from llem.results import load_result
from llem.run import run_experiment


def folders(out: Path) -> list[Path]:
    return sorted(out.iterdir()) if out.exists() else []


def test_cpu_run_reports_throughput_and_says_energy_not_measured(fake_run):
    config, plugins, backend, out = fake_run(["measurement.energy_sampler=none"])
    result = run_experiment(config, plugins=plugins, output_dir=out)
    assert result.status == "ok"
    assert result.metrics.n_requests == 8 and result.metrics.n_batches == 4 and result.metrics.batch_size == 2
    assert result.metrics.output_tokens == 8 * 4 and result.metrics.input_tokens == 8 * 8
    assert result.metrics.output_tokens_per_s > 0
    assert result.energy.measured is False and "energy_sampler is 'none'" in result.energy.not_measured_reason
    for name in ("total_j", "total_j_bound", "dynamic_j", "prefill_j", "decode_j", "idle_power_w"):
        assert getattr(result.energy, name) is None, name
    assert result.metrics.energy_per_output_token_j is None and result.metrics.energy_per_token_j is None
    assert backend.loaded == backend.unloaded == 1
    (folder,) = folders(out)
    assert folder.name == result.experiment_id and folder.name.startswith("random-tiny-llama-fake-")
    assert load_result(folder) == result
    assert (folder / "config.yaml").read_text().startswith(f"# config_hash: {result.config_hash}")


def test_warmup_prompts_never_share_a_first_token_with_measured_ones(fake_run):
    config, plugins, backend, out = fake_run(
        ["measurement.energy_sampler=none", "measurement.warmup_batches=3"]
    )
    run_experiment(config, plugins=plugins, output_dir=out)
    warm = [p for phase, _, ps in backend.seen if phase == "warmup" for p in ps]
    measured = [p for phase, _, ps in backend.seen if phase == "measure" for p in ps]
    assert len(warm) == 3 * 2 and len(measured) == 8
    assert {p.token_ids[0] for p in warm}.isdisjoint({p.token_ids[0] for p in measured})
    assert all(len(p.token_ids) == 8 for p in warm + measured)


def test_backend_failure_mid_window_leaves_a_complete_failed_result(fake_run):
    config, plugins, backend, out = fake_run(["measurement.energy_sampler=none"], fail_at=("measure", 2))
    result = run_experiment(config, plugins=plugins, output_dir=out)
    assert result.status == "failed"
    assert result.error == "RuntimeError: fake backend exploded mid-window"
    assert "Traceback" in result.error_traceback
    assert backend.unloaded == 1, "the backend must be unloaded after a failure"
    assert result.metrics.output_tokens_per_s is None and result.energy.total_j is None
    (folder,) = folders(out)  # one complete folder, no staging leftovers
    assert result.files["config"] == "config.yaml" and result.files["timeseries"].startswith("timeseries.")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["result.json", *result.files.values()])
    assert load_result(folder).status == "failed"


def test_crash_while_writing_leaves_nothing(fake_run, monkeypatch):
    config, plugins, _backend, out = fake_run(["measurement.energy_sampler=none"])

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("llem.results.write.timeseries_bytes", boom)
    with pytest.raises(OSError, match="disk full"):
        run_experiment(config, plugins=plugins, output_dir=out)
    assert folders(out) == [], "a failed write must leave no folder and no staging folder"


def test_config_that_cannot_run_here_writes_nothing_and_loads_nothing(fake_run):
    config, plugins, backend, out = fake_run(
        ["measurement.energy_sampler=none", "prompts.source=file", "prompts.path=/nonexistent/prompts.jsonl"]
    )
    with pytest.raises(UserError, match="no such file"):
        run_experiment(config, plugins=plugins, output_dir=out)
    assert backend.loaded == 0 and folders(out) == []


def test_energy_from_counter_edges_with_dynamic_energy_and_measured_phase_split(fake_run):
    # 1 ms counter period: the window spans many periods, so per-token energy is published.
    config, plugins, backend, out = fake_run(
        ["measurement.baseline_duration_s=0.3"], meter={"period_s": 0.001}, prefill_s=0.01, step_s=0.01
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    e, m = result.energy, result.metrics
    assert result.status == "ok", result.error_traceback
    assert e.measured and not e.short_window
    assert e.sampler == "nvml" and e.devices == ["fake-gpu-0"] and e.counter_period_s == 0.001
    # idle is measured while nothing runs: the fake meter's 100 W, to within the counter quantisation
    assert e.idle_power_w == pytest.approx(100.0, rel=0.02)
    # warm-up (1 batch), the window (4 batches), then the prefill-only passes (4 batches each)
    assert e.prefill_passes == 1 and m.window_repetitions == 1
    busy = sum(b - a for a, b in backend.busy.intervals[1:5])  # the 4 measured batches
    assert e.total_j == pytest.approx(100.0 * e.window_s + 200.0 * busy, abs=e.total_j_bound + 0.05)
    assert e.dynamic_j == pytest.approx(200.0 * busy, rel=0.05)
    assert m.energy_per_output_token_j == pytest.approx(e.total_j / 32)
    assert m.energy_per_token_j == pytest.approx(e.total_j / (32 + 64))
    assert m.dynamic_energy_per_output_token_j == pytest.approx(e.dynamic_j / 32)
    assert e.phase_split == "measured"
    assert e.prefill_j + e.decode_j == pytest.approx(e.total_j)
    # decode sleeps 3 × 10 ms per batch, prefill 10 ms: decode gets three times the energy (time is fake: the
    # only slack is the 1 ms counter quantisation)
    assert e.decode_j / e.prefill_j == pytest.approx(3.0, rel=0.02)
    assert m.prefill_energy_per_input_token_j == pytest.approx(e.prefill_j / 64)
    assert m.decode_energy_per_output_token_j == pytest.approx(e.decode_j / 32)
    # the prefill passes ran one output token each, after the window, on the measured prompts
    prefill_batches = [seen for seen in backend.seen if seen[0] == "prefill"]
    assert [b[2] for b in prefill_batches] == [b[2] for b in backend.seen if b[0] == "measure"]


def test_short_window_withholds_per_token_energy_and_says_why(fake_run):
    # a 100 ms counter (NVML's) and a ~40 ms window: far fewer than 10 periods
    config, plugins, _backend, out = fake_run(
        ["measurement.baseline=none", "measurement.extend_short_window=false"], meter={"period_s": 0.1}
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    assert result.energy.measured and result.energy.short_window
    assert result.energy.total_j > 0 and result.energy.total_j_bound > 0
    assert result.metrics.energy_per_output_token_j is None and result.metrics.energy_per_token_j is None
    assert any("energy per token withheld" in n and "--allow-short-window" in n for n in result.notes)
    assert any("measurement.baseline: none" in n for n in result.notes) and result.energy.dynamic_j is None


def test_allow_short_window_reports_per_token_energy_with_a_warning(fake_run):
    config, plugins, _backend, out = fake_run(
        [
            "measurement.baseline=none",
            "measurement.allow_short_window=true",
            "measurement.extend_short_window=false",
        ],
        meter={"period_s": 0.1},
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    assert result.energy.short_window
    assert result.metrics.energy_per_output_token_j == pytest.approx(result.energy.total_j / 32)
    assert any("reported anyway" in n for n in result.notes)


def test_a_short_pass_is_repeated_until_the_window_spans_min_window_periods(fake_run):
    # ~4 ms per batch, 4 batches, a 10 ms counter: one pass is far under 10 periods, so it is repeated
    config, plugins, backend, out = fake_run(["measurement.baseline=none"], meter={"period_s": 0.01})
    result = run_experiment(config, plugins=plugins, output_dir=out)
    reps = result.metrics.window_repetitions
    assert reps > 1 and any(f"repeats them {reps} times" in n for n in result.notes)
    assert result.metrics.output_tokens == 4 * 8 * reps and result.metrics.n_requests == 8 * reps
    measured = [b[2] for b in backend.seen if b[0] == "measure"]
    assert measured == measured[:4] * reps  # the same prompts, in the same order, every pass


def test_estimated_split_is_labelled(fake_run):
    config, plugins, _backend, out = fake_run(
        ["measurement.baseline=none", "measurement.prefill_energy=estimate"],
        meter={"period_s": 0.001},
        prefill_s=0.01,
        step_s=0.01,
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    e = result.energy
    assert e.phase_split == "estimated" and e.phase_bound_j is None
    assert e.prefill_j + e.decode_j == pytest.approx(e.total_j)
    assert any("prefill/decode energy estimated" in n for n in result.notes)


def test_prefill_passes_repeat_until_they_resolve_a_coarse_counter(fake_run):
    # a 50 ms counter against 10 ms prefills: one pass (4 batches, 40 ms) is under a period, so
    # the prefill-only passes repeat until they span min_window_periods (3 here) periods, and the
    # split is measured
    config, plugins, backend, out = fake_run(
        [
            "measurement.baseline=none",
            "measurement.min_window_periods=3",
            "measurement.allow_short_window=true",
        ],
        meter={"period_s": 0.05},
        prefill_s=0.01,
        step_s=0.01,
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    e = result.energy
    assert e.phase_split == "measured" and e.prefill_passes >= 5  # 1.25 × 3 × 50 ms / 40 ms
    assert e.prefill_window_s >= 3 * 0.05
    assert e.prefill_j + e.decode_j == pytest.approx(e.total_j)
    assert sum(1 for b in backend.seen if b[0] == "prefill") == 4 * e.prefill_passes
    # the passes' time is reported beside the other stages: the passes plus their aligned edges
    passes_s = e.prefill_passes * 4 * 0.01
    assert passes_s <= result.timings.prefill_s <= passes_s + 3 * 0.05


def test_converging_warmup_stops_when_latency_settles(fake_run):
    config, plugins, _backend, out = fake_run(
        [
            "measurement.energy_sampler=none",
            "measurement.warmup=converge",
            "measurement.warmup_batches=3",
            "measurement.warmup_cv=0.05",
        ],
        latencies=[0.08, 0.03, 0.02, 0.02, 0.02, 0.5, 0.5],
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    assert result.timings.warmup_batches == 5 and result.timings.warmup_converged is True
    assert result.timings.warmup_cv < 0.05


def test_batches_of_very_different_durations_get_a_note(fake_run):
    config, plugins, _backend, out = fake_run(["measurement.energy_sampler=none"], extra_s={2: 0.05})
    result = run_experiment(config, plugins=plugins, output_dir=out)
    (note,) = [n for n in result.notes if "batch durations varied a lot" in n]
    assert "0.0035–0.0535 s" in note  # 2 ms prefill + 3 × 0.5 ms steps; one batch disturbed by 50 ms


def test_steady_batches_get_no_note(fake_run):
    config, plugins, _backend, out = fake_run(["measurement.energy_sampler=none"])
    result = run_experiment(config, plugins=plugins, output_dir=out)
    assert not [n for n in result.notes if "varied" in n or "output tokens" in n]


def test_fewer_tokens_than_asked_gets_a_note(fake_run):
    config, plugins, _backend, out = fake_run(
        ["measurement.energy_sampler=none", "fixed_output_length=false"], out_tokens=1
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    assert result.metrics.output_tokens == 8
    (note,) = [n for n in result.notes if "output tokens" in n]
    assert note.startswith("requests generated 8 of 32 output tokens (25%) (end-of-sequence")


def test_fewer_tokens_than_a_fixed_length_fails_the_run(fake_run):
    # fixed_output_length promises exactly max_output_tokens per request: the core's output check holds the
    # backend to it (llem.run.output_checks), so such a window is never published as comparable
    config, plugins, _backend, out = fake_run(["measurement.energy_sampler=none"], out_tokens=1)
    result = run_experiment(config, plugins=plugins, output_dir=out)
    assert result.status == "failed" and result.metrics.output_tokens is None
    assert "backend 'fake' returned an impossible output" in result.error
    assert "output_tokens 1 under fixed_output_length (must be exactly 4)" in result.error


def test_energy_becomes_emissions_and_cost_at_the_given_rates(fake_run, monkeypatch):
    monkeypatch.setenv("LLEM_PRICE_PER_KWH", "0.30")  # the config's carbon intensity, the environment's price
    monkeypatch.setenv("LLEM_CURRENCY", "EUR")
    config, plugins, _backend, out = fake_run(
        ["measurement.baseline=none", "carbon_intensity_g_per_kwh=400"], meter={"period_s": 0.001}
    )
    e = run_experiment(config, plugins=plugins, output_dir=out).energy
    kwh = e.total_j / 3.6e6
    assert e.carbon_g_co2e == pytest.approx(kwh * 400) and e.carbon_intensity_g_per_kwh == 400
    assert e.cost == pytest.approx(kwh * 0.30) and e.price_per_kwh == 0.30 and e.currency == "EUR"


def test_no_energy_means_no_emissions_or_cost(fake_run, monkeypatch):
    monkeypatch.setenv("LLEM_CARBON_INTENSITY_G_PER_KWH", "400")
    config, plugins, _backend, out = fake_run(["measurement.energy_sampler=none", "price_per_kwh=0.3"])
    e = run_experiment(config, plugins=plugins, output_dir=out).energy
    assert e.carbon_g_co2e is None and e.cost is None  # never a zero
    assert e.carbon_intensity_g_per_kwh == 400 and e.price_per_kwh == 0.3  # the rates are still recorded


def test_a_malformed_rate_is_refused_before_anything_loads(fake_run, monkeypatch):
    monkeypatch.setenv("LLEM_PRICE_PER_KWH", "cheap")
    config, plugins, backend, out = fake_run(["measurement.energy_sampler=none"])
    with pytest.raises(UserError, match=r"^\$LLEM_PRICE_PER_KWH: expected a number, got 'cheap'$"):
        run_experiment(config, plugins=plugins, output_dir=out)
    assert backend.loaded == 0 and folders(out) == []


def test_the_window_length_is_predicted_from_warm_batches_not_the_compiling_first_one(fake_run):
    # The first warm-up batch compiles (5 s here); the second shows the real speed (4 ms per batch).
    # Predicting from both (median 2.5 s per batch) would run one short pass and withhold J/token.
    config, plugins, _backend, out = fake_run(
        ["measurement.baseline=none", "measurement.warmup_batches=2"],
        meter={"period_s": 0.01},
        latencies=[5.0, 0.004],
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    assert result.metrics.window_repetitions > 1
    assert not result.energy.short_window and result.metrics.energy_per_output_token_j is not None


def test_a_baseline_reused_without_a_check_says_so_in_the_result(fake_run):
    config, plugins, _backend, out = fake_run(
        ["measurement.baseline=cached", "measurement.baseline_duration_s=0.3"], meter={"period_s": 0.001}
    )
    first = run_experiment(config, plugins=plugins, output_dir=out)
    second = run_experiment(config, plugins=plugins, output_dir=out)
    assert first.energy.baseline_source == "fresh"
    assert not any("without a check" in n for n in first.notes)
    assert second.energy.baseline_source == "cached"
    assert second.energy.idle_power_w == first.energy.idle_power_w
    assert second.energy.baseline_checked_at == first.energy.baseline_measured_at
    assert second.timings.baseline_s == 0.0  # the fake clock did not move: no idle time was spent
    assert any("idle baseline reused from the cache without a check" in n for n in second.notes)
