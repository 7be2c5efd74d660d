"""A serving run on a real NVIDIA GPU: vLLM's OpenAI server (vllm.mode: server) at two request rates, with
the GPU energy counter. Skipped, with the reason, where no GPU or no CUDA build of vLLM exists (CPU, CI)."""

from __future__ import annotations

import json

import pytest
from llem.measure.devices import detect_devices

pytestmark = [pytest.mark.gpu, pytest.mark.vllm, pytest.mark.slow]

DEVICE = detect_devices()
if not DEVICE.has_gpu:
    pytest.skip(
        "no NVIDIA GPU visible through NVML: GPU serving runs on GPU machines only", allow_module_level=True
    )
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("torch has no CUDA here", allow_module_level=True)
pytest.importorskip("vllm", reason="vllm is not installed")


@pytest.mark.timeout(900)
def test_vllm_server_on_gpu_reports_energy_per_request_and_goodput(llem_cli, tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text(
        json.dumps(
            {
                "model": "random:qwen2.5-0.5b",
                "backend": "vllm",
                "precision": "bf16",
                "n_prompts": 256,
                "max_input_tokens": 128,
                "max_output_tokens": 64,
                "measurement": {"gpu_indices": [0]},
                "load": {"request_rate": [4.0, 16.0], "warmup_s": 5, "duration_s": 15, "cooldown_s": 5},
                "slo": {"ttft_ms": 200, "tpot_ms": 50},
                "vllm": {"mode": "server", "gpu_memory_utilization": 0.5, "max_model_len": 512},
            }
        )
    )
    result = llem_cli("run", str(config), "--output", str(tmp_path / "out"), "--json", timeout=850)
    assert result.exit_code == 0, result.output[-4000:]
    low, high = json.loads(result.stdout)
    for r in (low, high):
        e, sv = r["energy"], r["metrics"]["serving"]
        assert e["measured"] and e["sampler"] == "nvml" and e["total_j"] > 0
        assert 50 < e["mean_power_w"] < 1500
        assert e["total_j_bound"] < 0.1 * e["total_j"]
        assert sv["energy_per_request_j"] == pytest.approx(e["total_j"] / sv["n_completed"])
        assert sv["n_failed"] == 0 and sv["output_length"] == "fixed"
    # more load on one server: more requests per second for less energy per request (idle power amortised)
    assert high["metrics"]["requests_per_s"] > low["metrics"]["requests_per_s"]
    assert (
        high["metrics"]["serving"]["energy_per_request_j"] < low["metrics"]["serving"]["energy_per_request_j"]
    )
