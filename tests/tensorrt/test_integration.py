"""A real TensorRT-LLM run of a tiny random-weight Llama: engine build (trt) or PyTorch
runtime, then generate.

Runs only where `tensorrt_llm` imports and an NVIDIA GPU is visible; elsewhere it is skipped with the reason.
TensorRT-LLM cannot be installed on llem's CPU machines nor carried to the lent GPU machines, so this test has
not run in llem's own CI: the translation is covered as pure data by test_translate.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.gpu]


def _skip_reason() -> str | None:
    if importlib.util.find_spec("tensorrt_llm") is None:
        return "tensorrt_llm is not installed (TensorRT-LLM needs an NVIDIA GPU and CUDA)"
    from llem.measure.devices import detect_devices

    if not detect_devices().has_gpu:
        return "no NVIDIA GPU visible"
    try:
        import tensorrt_llm  # noqa: F401
    except Exception as exc:  # a broken CUDA/TensorRT install shows up here
        return f"tensorrt_llm does not import: {type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("runtime", ["trt", "pytorch"])
def test_tiny_llama_runs_for_real(make_config, trt_plugins, tmp_path: Path, monkeypatch, runtime):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from llem.run import run_experiment

    monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path / "cache"))
    cfg = make_config(
        {"backend": runtime, "max_batch_size": 4, "max_seq_len": 128, "free_gpu_memory_fraction": 0.2},
        n_prompts=4, max_input_tokens=16, max_output_tokens=8, output_dir=str(tmp_path / "results"),
    )  # fmt: skip
    result = run_experiment(cfg, plugins=trt_plugins)
    assert result.status == "ok", result.error
    assert result.metrics.n_requests == 4
    assert result.metrics.output_tokens == 4 * 8  # fixed_output_length: exactly max_output_tokens each
    assert result.metrics.ttft_s.mean is not None and result.metrics.ttft_s.mean > 0
    if runtime == "trt":
        engines = list((tmp_path / "cache" / "engines").iterdir())
        assert len(engines) == 1 and (engines[0] / "llem-engine.json").is_file()
        again = run_experiment(cfg, plugins=trt_plugins)  # the second run reuses the cached engine
        assert again.status == "ok" and len(list((tmp_path / "cache" / "engines").iterdir())) == 1
        assert again.timings.build_s < result.timings.build_s
