"""The numbers a result publishes, each against a truth computed independently of the code that produced it.

Uses the lifecycle's test doubles (conftest.FakeBackend, conftest.FakeMeter: no GPU counter exists in CI) and,
for the device list, hand-made GpuInfo rows (NVML cannot run here).
"""

from __future__ import annotations

import pytest
from llem.measure.devices import visible_gpus
from llem.measure.telemetry import TelemetrySample
from llem.models.info import model_info
from llem.plugins.types import GpuInfo
from llem.results.summary import summary
from llem.run import run_experiment
from llem.run.assemble import timeseries_table
from llem.run.lifecycle import WindowRecord


def test_visible_devices_decide_which_counters_are_summed(monkeypatch):
    gpus = [
        GpuInfo(index=i, name="H200", compute_capability=(9, 0), uuid=f"GPU-{i}abc{i}-0000") for i in range(4)
    ]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    assert [g.index for g in visible_gpus(gpus)] == [0, 2]  # NVML indices of the GPUs torch will use
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus(gpus) == []  # an empty list hides every GPU, as CUDA does
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-3abc3,GPU-1abc1-0000")
    assert [g.index for g in visible_gpus(gpus)] == [
        1,
        3,
    ]  # UUIDs and unique UUID prefixes, as CUDA reads them
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert len(visible_gpus(gpus)) == 4


def test_summary_energy_block_shows_the_measured_numbers(fake_run):
    config, plugins, _backend, out = fake_run(
        ["measurement.baseline_duration_s=0.3"], meter={"period_s": 0.001}, prefill_s=0.01, step_s=0.01
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    e, m = result.energy, result.metrics
    text = summary(result)
    line = {row.split("  ", 1)[0].strip(): row for row in text.splitlines()}
    assert f"{e.total_j:.4g} ± {e.total_j_bound:.2g} J" in line["energy (total)"]
    assert f"{e.dynamic_j:.4g} J above idle {e.idle_power_w:.4g} W" in line["energy (dynamic)"]
    # per-token figures are the totals divided by the token counts, not some other denominator
    assert f"{e.total_j / 32:.4g}" in line["J / output token"]
    assert f"(dynamic {e.dynamic_j / 32:.4g})" in line["J / output token"]
    assert f"{e.prefill_j / 64:.4g} / {e.decode_j / 32:.4g}" in text
    assert f"{e.total_j / e.window_s:.4g} W" in line["mean power"]
    assert m.output_tokens_per_s == pytest.approx(32 / result.timings.window_s)


def test_mfu_and_mbu_from_the_architecture_and_the_peaks(fake_run, monkeypatch):
    monkeypatch.setenv("LLEM_PEAK_TFLOPS", "2")
    monkeypatch.setenv("LLEM_PEAK_BANDWIDTH_GBS", "3")
    from llem.measure import environment

    real = environment.snapshot_environment

    def with_a_gpu(indices):
        env = real(indices)
        return type(env)(
            **{**{f: getattr(env, f) for f in env.__struct_fields__}, "gpus": [{"name": "Fake GPU"}]}
        )

    monkeypatch.setattr("llem.run.lifecycle.snapshot_environment", with_a_gpu)
    config, plugins, _backend, out = fake_run(["measurement.energy_sampler=none"])
    result = run_experiment(config, plugins=plugins, output_dir=out)
    m, window = result.metrics, result.timings.window_s
    info = model_info("random:tiny-llama")
    # 8 requests of 8 input + 4 output tokens: 11 positions pass through the model each (the last
    # token is not fed)
    dense = 2 * info.n_params_non_embedding * 11
    attention = 4 * info.num_layers * info.num_heads * info.head_dim * (11 * 12 / 2)
    assert m.flops == pytest.approx(8 * (dense + attention))
    assert m.mfu == pytest.approx(m.flops / window / 2e12)
    assert m.mbu == pytest.approx(m.bytes_moved / window / 3e9)
    assert m.peak_source == "env"


def test_one_continuous_batch_is_not_split_into_phases(fake_run):
    config, plugins, _backend, out = fake_run(
        ["measurement.baseline=none", "measurement.prefill_energy=estimate", "fake.batch_size=8"],
        meter={"period_s": 0.001},
        continuous=True,
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    e = result.energy
    assert e.measured and e.phase_split is None and e.prefill_j is None and e.decode_j is None
    assert any("not split" in n for n in result.notes)


def test_prefill_passes_that_hit_a_prefix_cache_fall_back_to_a_labelled_estimate(fake_run):
    config, plugins, _backend, out = fake_run(
        ["measurement.baseline=none"],
        meter={"period_s": 0.001},
        prefill_s=0.01,
        step_s=0.01,
        cache_prefill=True,
    )
    result = run_experiment(config, plugins=plugins, output_dir=out)
    e = result.energy
    assert e.phase_split == "estimated" and e.prefill_passes is None
    assert any("hit the prefix cache" in n for n in result.notes)
    assert result.metrics.prefill_energy_per_input_token_j is None


def test_telemetry_rows_are_timed_from_the_window_start():
    rec = WindowRecord(start_s=100.0, end_s=101.0)
    samples = [
        TelemetrySample(t_s=100.05, gpu=0, power_w=300.0, sm_clock_mhz=1980),
        TelemetrySample(t_s=100.15, gpu=0, power_w=420.0, sm_clock_mhz=1980, throttle_reasons=4),
    ]
    rows, columns = timeseries_table(samples, rec)
    assert columns[0] == "t_rel_s" and "power_w" in columns and "throttle_reasons" in columns
    assert [round(r["t_rel_s"], 6) for r in rows] == [0.05, 0.15]
    assert [r["power_w"] for r in rows] == [300.0, 420.0]
