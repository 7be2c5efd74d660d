"""The pytorch plugin as the core sees it: contract, capabilities, cheap import, and a run through
run_experiment."""

from __future__ import annotations

import subprocess
import sys

import pytest
from llem.config.resolve import load_experiment
from llem.testing import assert_backend_contract


def test_backend_contract(llem_plugins):
    tiny = {"model": "random:tiny-llama", "precision": "fp32", "n_prompts": 2, "max_output_tokens": 4}
    result = assert_backend_contract("pytorch", tiny)
    assert result.packages["torch"] and result.packages["transformers"]
    status = llem_plugins.statuses["pytorch"]
    assert status.distribution == "llem-pytorch" and status.module == "llem_pytorch.plugin"
    assert {"llem_validate", "llem_unload", "llem_build_engine"} <= set(status.hooks)


def test_capabilities_match_what_the_config_offers(llem_plugins):
    from llem_pytorch._config import PyTorchConfig

    caps = llem_plugins.backend("pytorch").capabilities()
    assert caps.precisions == ("fp32", "fp16", "bf16")
    assert caps.decoding_strategies == ("greedy", "sampling", "beam_search")
    assert {"min_p", "min_new_tokens", "temperature", "top_k", "top_p"} <= set(caps.decoder_params)
    assert caps.runs_on_cpu and caps.per_token_timestamps
    assert not caps.continuous_batching  # the core must split prompts by batch_size
    fields = PyTorchConfig.__struct_fields__
    # Every capability claimed is reachable through a config field.
    claims = {
        "quantization": ("load_in_4bit", "load_in_8bit"),
        "torch_compile": ("torch_compile",),
        "beam_search": ("num_beams",),
        "speculative_decoding": ("prompt_lookup_num_tokens",),
        "static_kv_cache": ("cache_implementation",),
        "multi_gpu": ("num_processes",),
    }
    for cap, needed in claims.items():
        assert getattr(caps, cap)
        assert set(needed) <= set(fields), cap


def test_build_engine_returns_nothing(llem_plugins, tmp_path):
    cfg = load_experiment({"model": "random:tiny-llama", "backend": "pytorch"}, plugins=llem_plugins)
    assert llem_plugins.backend("pytorch").build_engine(cfg, tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_plugin_import_does_not_import_torch_or_transformers():
    code = (
        "import sys, llem_pytorch.plugin; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_backends_show_lists_every_field(llem_cli):
    from llem_pytorch._config import PyTorchConfig

    result = llem_cli("backends", "show", "pytorch")
    assert result.exit_code == 0, result.stderr
    for name in PyTorchConfig.__struct_fields__:
        assert f"pytorch.{name}" in result.stdout


def test_bad_value_is_one_line_exit_2(llem_cli, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: random:tiny-llama\nbackend: pytorch\npytorch:\n  num_beams: 0\n")
    result = llem_cli("config", "validate", str(path))
    assert result.exit_code == 2
    assert "$.pytorch.num_beams" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_run_experiment_end_to_end(llem_plugins, tmp_path, monkeypatch):
    """Through the core's lifecycle: batch_size splits the prompts, every token is counted, the
    result is written."""
    from llem.results import load_result
    from llem.run import run_experiment
    from llem_pytorch import _generate

    calls: list[tuple[int, str]] = []
    real = _generate.run_batch

    def spy(handle, batch, config, **kw):
        out = real(handle, batch, config, **kw)
        calls.append((len(batch.prompts), batch.phase))
        return out

    monkeypatch.setattr(_generate, "run_batch", spy)
    cfg = load_experiment(
        {
            "model": "random:tiny-llama", "backend": "pytorch", "precision": "fp32", "n_prompts": 4,
            "max_input_tokens": 16, "max_output_tokens": 8, "pytorch": {"batch_size": 2, "num_beams": 2},
            "decoder": {"preset": "deterministic"}, "passthrough_kwargs": {"repetition_penalty": 1.3},
            "measurement": {"warmup_batches": 1},
        },
        plugins=llem_plugins,
    )  # fmt: skip
    result = run_experiment(cfg, plugins=llem_plugins, output_dir=tmp_path)
    assert result.status == "ok", result.error
    assert calls == [(2, "warmup"), (2, "measure"), (2, "measure")]
    assert result.metrics.n_requests == 4
    assert result.metrics.output_tokens == 4 * 8 and result.metrics.input_tokens == 4 * 16
    assert 0 < result.metrics.ttft_s.mean <= result.metrics.e2e_s.mean and result.metrics.itl_s.p50 > 0
    assert result.unvalidated == {"passthrough_kwargs": {"repetition_penalty": 1.3}}
    assert "reached model.generate unvalidated: passthrough_kwargs.repetition_penalty" in result.notes
    assert result.config["pytorch"]["num_beams"] == 2
    written = list(tmp_path.rglob("result.json"))
    assert len(written) == 1 and load_result(written[0].parent).experiment_id == result.experiment_id


def test_prepare_imports_the_compile_stack_only_for_a_config_that_compiles():
    """A study's spare worker runs llem_prepare while the current experiment loads: for a static cache it also
    imports what torch.compile's first call would (seconds of the next experiment's warm-up otherwise)."""
    code = (
        "import sys\n"
        "from llem.config.resolve import load_experiment\n"
        "from llem.plugins import get_plugin_manager\n"
        "pm = get_plugin_manager()\n"
        "base = {'model': 'random:tiny-llama', 'backend': 'pytorch', 'precision': 'fp32'}\n"
        "backend = pm.backend('pytorch')\n"
        "backend.prepare(load_experiment(base, plugins=pm))\n"
        "eager = 'torch._inductor.compile_fx' in sys.modules\n"
        "static = {**base, 'pytorch': {'cache_implementation': 'static'}}\n"
        "backend.prepare(load_experiment(static, plugins=pm))\n"
        "print(eager, 'torch._inductor.compile_fx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
