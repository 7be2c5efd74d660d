"""What `llem run` prints: the engine's own output goes to the result's run.log unless --verbose; --quiet
prints only the result folder; a failure's one line carries its cause. Real CLI in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_dists import make_plugin_dist

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
SMALL = ("--set", "n_prompts=4", "--set", "max_output_tokens=4")

# A test-only backend that talks like an engine: logging and warnings on load, and a failure whose message
# points "above" at the real cause, as vLLM's engine-core failures do.
CHATTY_PLUGIN = '''
import logging, sys, warnings
from llem.config import Section
from llem.plugins import Capabilities, hookimpl


class ChattyConfig(Section):
    """Test-only backend section."""


@hookimpl
def llem_register_backends(register):
    register.add_backend("chatty", config=ChattyConfig, description="Test-only: prints like an engine.")


@hookimpl
def llem_load(config, engine):
    logging.basicConfig(level=logging.INFO)
    for i in range(66):
        logging.getLogger("chatty.engine").info("engine log line %d", i)
    warnings.warn("chat template missing, using the default")
    return None


@hookimpl
def llem_generate(handle, batch, config):
    print("ValueError: max_model_len 64 is smaller than the prompt (80 tokens)", file=sys.stderr, flush=True)
    raise RuntimeError("Engine core initialization failed. See root cause above.")


@hookimpl
def llem_capabilities():
    return Capabilities(
        precisions=("fp32", "bf16"), decoding_strategies=("greedy", "sampling"), decoder_params=(),
        runs_on_cpu=True,
    )
'''


@pytest.fixture
def chatty(toy_site, tmp_path):
    make_plugin_dist(toy_site, "llem-chatty", {"llem_chatty": CHATTY_PLUGIN}, {"chatty": "llem_chatty"})
    cfg = tmp_path / "chatty.yaml"
    cfg.write_text(
        "model: random:tiny-llama\nbackend: chatty\nprecision: fp32\nn_prompts: 2\nmax_output_tokens: 2\n"
        "measurement: {warmup_batches: 0, energy_sampler: none}\n"
    )
    return cfg


def test_engine_output_goes_to_run_log_and_the_failure_names_its_cause(llem_cli, chatty, tmp_path):
    out = tmp_path / "out"
    res = llem_cli("run", str(chatty), "--output", str(out), env={"LLEM_CACHE_DIR": str(tmp_path / "c")})
    assert res.exit_code == 1, res.output
    assert "engine log line" not in res.output and "chat template missing" not in res.output
    (folder,) = list(out.iterdir())
    log = (folder / "run.log").read_text()
    assert log.count("engine log line") == 66 and "chat template missing" in log
    (error,) = [line for line in res.stderr.splitlines() if line.startswith("llem: error:")]
    assert error == (
        "llem: error: the run failed: RuntimeError: Engine core initialization failed. See root cause above: "
        "ValueError: max_model_len 64 is smaller than the prompt (80 tokens) "
        f"(details in {folder / 'result.json'}, {folder / 'run.log'})"
    )


def test_verbose_lets_the_engine_talk_to_the_terminal(llem_cli, chatty, tmp_path):
    out = tmp_path / "out"
    env = {"LLEM_CACHE_DIR": str(tmp_path / "c")}
    res = llem_cli("run", str(chatty), "--output", str(out), "--verbose", env=env)
    assert res.exit_code == 1, res.output
    assert res.stderr.count("engine log line") == 66 and "chat template missing" in res.stderr
    (folder,) = list(out.iterdir())
    assert not (folder / "run.log").exists()
    assert llem_cli("run", str(chatty), "-q", "-v", env=env).exit_code == 2


@pytest.mark.slow
def test_quiet_prints_only_the_result_folder(llem_cli, tmp_path):
    pytest.importorskip("llem_pytorch")
    out = tmp_path / "out"
    env = {"LLEM_FORCE_NO_GPU": "1", "LLEM_CACHE_DIR": str(tmp_path / "c")}
    res = llem_cli("run", str(QUICKSTART), *SMALL, "--output", str(out), "--quiet", env=env, timeout=300)
    assert res.exit_code == 0, res.output
    (folder,) = list(out.iterdir())
    assert res.stdout == f"result: {folder}\n" and res.stderr == ""
    assert "Loading weights" in (folder / "run.log").read_text()  # transformers' progress bar, kept aside
