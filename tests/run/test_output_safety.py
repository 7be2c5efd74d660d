"""A finished measurement is never lost: the output folder is checked before anything loads, and a write that
fails at the end lands in a fallback folder that the CLI names. Real CLI in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from plugin_dists import make_plugin_dist

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"

# A test-only backend whose generate removes the output folder and puts a file in its place, as when a disk
# is unmounted or a folder deleted mid-run: the write at the end then fails however the folder was checked.
VANISH_PLUGIN = '''
import os, shutil
from pathlib import Path
from llem.config import Section
from llem.plugins import BatchOutput, Capabilities, RequestOutput, hookimpl


class VanishConfig(Section):
    """Test-only backend section."""


@hookimpl
def llem_register_backends(register):
    register.add_backend("vanish", config=VanishConfig, description="Test-only: breaks the output folder.")


@hookimpl
def llem_load(config, engine):
    return None


@hookimpl
def llem_generate(handle, batch, config):
    out = Path(os.environ["VANISH_OUTPUT"])
    if out.is_dir():
        shutil.rmtree(out)
        out.write_text("in the way")
    return BatchOutput(
        # no times: this double does no timed work (the core refuses times longer than the generate call)
        requests=[RequestOutput(input_tokens=len(p.token_ids or []), output_tokens=batch.max_new_tokens)
                  for p in batch.prompts],
        timing_source="test",
    )


@hookimpl
def llem_capabilities():
    return Capabilities(
        precisions=("fp32", "bf16"), decoding_strategies=("greedy", "sampling"), decoder_params=(),
        runs_on_cpu=True,
    )
'''


def test_unwritable_output_is_refused_before_anything_loads(llem_cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    res = llem_cli("run", str(QUICKSTART), "--output", str(blocker / "results"), timeout=120)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert lines == [
        f"llem: error: --output is not writable: {blocker / 'results'}: {blocker} is not a folder"
    ]
    assert "load model" not in res.output and "Traceback" not in res.output


def test_unwritable_output_dir_from_the_config_is_refused_before_loading(llem_cli, toy_site, tmp_path):
    make_plugin_dist(toy_site, "llem-vanish", {"llem_vanish": VANISH_PLUGIN}, {"vanish": "llem_vanish"})
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"model: random:tiny-llama\nbackend: vanish\nprecision: fp32\noutput_dir: {blocker}/out\n")
    res = llem_cli("run", str(cfg), env={"VANISH_OUTPUT": str(tmp_path / "unused")}, timeout=120)
    assert res.exit_code == 2, res.output
    assert (
        res.stderr.strip()
        == f"llem: error: output folder is not writable: {blocker}/out: {blocker} is not a folder"
    )
    assert not (tmp_path / "unused").exists()


def test_a_finished_run_survives_an_output_folder_that_breaks_mid_run(llem_cli, toy_site, tmp_path):
    make_plugin_dist(toy_site, "llem-vanish", {"llem_vanish": VANISH_PLUGIN}, {"vanish": "llem_vanish"})
    out, spare = tmp_path / "results", tmp_path / "spare"
    out.mkdir()
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        "model: random:tiny-llama\nbackend: vanish\nprecision: fp32\nn_prompts: 4\nmax_input_tokens: 8\n"
        "max_output_tokens: 4\nmeasurement: {warmup_batches: 1, energy_sampler: none}\n"
    )
    env = {"VANISH_OUTPUT": str(out), "LLEM_FALLBACK_DIR": str(spare), "LLEM_CACHE_DIR": str(tmp_path / "c")}
    res = llem_cli("run", str(cfg), "--output", str(out), env=env, timeout=120)
    assert res.exit_code == 0, res.output
    assert out.is_file(), "the test backend should have put a file where the output folder was"
    (folder,) = list(spare.iterdir())
    assert f"llem: warning: could not write under {out}; the result was saved to {folder}" in res.stderr
    assert f"result: {folder}" in res.stdout
    data = json.loads((folder / "result.json").read_text())
    assert data["status"] == "ok" and data["metrics"]["output_tokens"] == 4 * 4
    assert any(f"could not write the result under {out}" in n and str(spare) in n for n in data["notes"])


def test_report_to_an_unwritable_file_is_one_line(llem_cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    study = tmp_path / "study"
    study.mkdir()
    res = llem_cli("report", str(study), "-o", str(blocker / "report.html"), timeout=120)
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output


def test_schema_to_a_full_device_is_one_line(tmp_path):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "llem", "schema"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "llem: error: cannot write the output: No space left on device"
    ]
