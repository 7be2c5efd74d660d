"""Metric formulas on hand-computed numbers."""

from __future__ import annotations

import math

import pytest
from llem.models import model_info
from llem.plugins.types import BatchOutput, RequestOutput
from llem.results.estimates import batch_bytes, request_flops
from llem.results.metrics import dynamic_energy_j, latencies, per_token_energy, rate, short_window_reason
from llem.results.peaks import device_peak, lookup_peak
from llem.results.stats import coefficient_of_variation, latency_stats, percentile
from llem.run.warmup import run_warmup


def test_percentiles_interpolate_linearly_between_order_statistics():
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5  # halfway between 2 and 3
    assert percentile(values, 90) == pytest.approx(3.7)  # position 2.7: 3 + 0.7 × (4 − 3)
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile([5.0], 99) == 5.0
    s = latency_stats([0.1, 0.2, 0.3, 0.4, 1.0])
    assert (s.n, s.mean, s.p50) == (5, pytest.approx(0.4), 0.3)
    assert s.p90 == pytest.approx(0.76)  # position 3.6: 0.4 + 0.6 × 0.6
    assert latency_stats([]).mean is None


def test_per_token_and_dynamic_energy():
    assert dynamic_energy_j(500.0, 100.0, 3.0) == 200.0
    assert dynamic_energy_j(500.0, None, 3.0) is None
    pt = per_token_energy(100.0, 40.0, 300, 200)
    assert pt.energy_per_output_token_j == 0.5
    assert pt.energy_per_token_j == 0.2  # 100 J / (300 + 200) tokens
    assert pt.dynamic_energy_per_output_token_j == 0.2
    withheld = per_token_energy(100.0, 40.0, 300, 200, withheld_reason="too short")
    assert withheld.energy_per_output_token_j is None and withheld.note == "too short"
    assert (
        per_token_energy(None, None, 300, 200).energy_per_output_token_j is None
    )  # not measured: None, not 0
    assert rate(100, 4.0) == 25.0 and rate(100, 0.0) is None


def test_short_window_rule_is_strictly_fewer_than_min_periods():
    assert short_window_reason(0.99, 0.1, 10, 50.0, 2.0) is not None
    assert short_window_reason(1.0, 0.1, 10, 50.0, 2.0) is None
    assert short_window_reason(0.01, None, 10, 50.0, 2.0) is None  # unknown period: cannot judge
    assert "0.990 s" in short_window_reason(0.99, 0.1, 10, 50.0, 2.0)


def test_latencies_pool_itl_and_derive_it_when_missing():
    outs = [
        BatchOutput(
            requests=[
                RequestOutput(input_tokens=2, output_tokens=3, ttft_s=0.1, e2e_s=0.5, itl_s=[0.2, 0.2])
            ],
            timing_source="x",
        ),
        BatchOutput(requests=[RequestOutput(input_tokens=2, output_tokens=5, ttft_s=0.2)], timing_source="x"),
    ]
    lat = latencies(outs, [0.5, 1.0])
    assert lat.ttft_s.mean == pytest.approx(0.15)
    assert lat.e2e_s.mean == pytest.approx(0.75)  # the second request falls back to its batch's 1.0 s
    # gaps: 0.2, 0.2 reported; (1.0 − 0.2) / 4 = 0.2 derived
    assert lat.itl_s.n == 3 and lat.itl_s.mean == pytest.approx(0.2)
    assert any("mean gap" in n for n in lat.notes) and any("batch's duration" in n for n in lat.notes)


def test_flops_and_bytes_estimates_on_tiny_llama():
    info = model_info("random:tiny-llama")
    n = info.n_params_non_embedding
    width = info.num_heads * info.head_dim
    # 3 input + 2 output tokens: 4 tokens pass through the model, attending to 1, 2, 3, 4 positions
    assert request_flops(info, 3, 2) == pytest.approx(2 * n * 4 + 4 * info.num_layers * width * 10)
    kv = info.kv_bytes_per_token(2.0)
    # one batch of two requests (3 in, 2 out) and (5 in, 3 out): 3 forward steps read the weights;
    # decode reads cache of 3 positions (first request) and 5 + 6 (second)
    assert batch_bytes(info, [(3, 2), (5, 3)], 2.0) == pytest.approx(3 * n * 2.0 + kv * (3 + 11))


def test_peak_table_matches_nvml_names_and_env_overrides(monkeypatch):
    assert lookup_peak("NVIDIA H100 80GB HBM3").name == "H100 SXM"
    assert lookup_peak("NVIDIA H100 PCIe").name == "H100 PCIe"
    assert lookup_peak("NVIDIA H200").name == "H200 SXM"
    assert lookup_peak("NVIDIA A100-SXM4-80GB").name == "A100 80GB SXM"
    assert lookup_peak("NVIDIA L4").name == "L4" and lookup_peak("NVIDIA L40S").name == "L40S"
    assert lookup_peak("Some Future GPU") is None
    flops, bw, src = device_peak("NVIDIA H100 80GB HBM3", "bf16")
    assert (flops, bw, src) == (pytest.approx(989.4e12), pytest.approx(3350e9), "table:H100 SXM")
    assert device_peak("NVIDIA H100 80GB HBM3", "fp32")[0] == pytest.approx(66.9e12)
    monkeypatch.setenv("LLEM_PEAK_TFLOPS", "100")
    assert device_peak("Some Future GPU", "bf16")[0] == 100e12


def test_fixed_warmup_runs_exactly_n_batches_and_converge_caps_at_max():
    from llem.config import MeasurementConfig

    calls = []
    out = run_warmup(lambda k: calls.append(k) or 0.1, MeasurementConfig(warmup_batches=3))
    assert calls == [0, 1, 2] and out.converged is None
    noisy = iter([0.1, 0.3] * 20)
    mc = MeasurementConfig(warmup="converge", warmup_batches=2, max_warmup_batches=6, warmup_cv=0.05)
    out = run_warmup(lambda k: next(noisy), mc)
    assert (
        out.batches == 6
        and out.converged is False
        and out.cv == pytest.approx(coefficient_of_variation([0.1, 0.3]))
    )
    assert math.isinf(coefficient_of_variation([1.0]))


def test_a_model_config_without_layers_or_not_an_object_is_a_user_error(tmp_path):
    # once a TypeError from int(None) deep inside prompt generation; now one line naming what is missing
    from llem.errors import UserError

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"vocab_size": 32, "hidden_size": 8, "num_attention_heads": 2}')
    with pytest.raises(UserError, match="no num_hidden_layers"):
        model_info(str(folder))
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"config\.json is not a JSON object"):
        model_info(str(folder))
