"""The config hash covers what affects the run, whatever plugins are installed. Real CLI in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_dists import TOY_PLUGIN, make_plugin_dist

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
pytest.importorskip("llem_pytorch", reason="the quickstart config needs the llem-pytorch backend")


def show(llem_cli, *args: str, env: dict[str, str] | None = None) -> dict:
    res = llem_cli("config", "show", str(QUICKSTART), "--json", *args, env=env, timeout=120)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_the_hash_is_the_same_with_two_different_plugin_sets(llem_cli, plugin_site):
    """Machine A has only llem-pytorch; machine B has every official backend plus a third-party one."""
    make_plugin_dist(plugin_site, "llem-toy", {"llem_toy": TOY_PLUGIN}, {"toy": "llem_toy"})
    a = show(llem_cli, env={"LLEM_DISABLE_PLUGINS": "vllm,tensorrt,toy"})
    b = show(llem_cli, env={"LLEM_DISABLE_PLUGINS": ""})
    assert a["config_hash"] == b["config_hash"]
    assert a["config"] == b["config"]
    assert (
        "toy" not in b["config"] and "vllm" not in b["config"] and b["config"]["pytorch"]["batch_size"] == 4
    )
    # ... and the hash still follows what affects the run, but not the name or the output folder.
    assert show(llem_cli, "--set", "pytorch.batch_size=8")["config_hash"] != a["config_hash"]
    assert (
        show(llem_cli, "--set", "name=other", "--set", "output_dir=elsewhere")["config_hash"]
        == a["config_hash"]
    )


def test_max_memory_with_int_and_str_keys_hashes(llem_cli):
    plain = show(llem_cli)["config_hash"]
    capped = show(llem_cli, "--set", "pytorch.max_memory={0: 10GiB, cpu: 50GiB}")
    assert capped["config_hash"] != plain
    assert capped["config"]["pytorch"]["max_memory"] == {"0": "10GiB", "cpu": "50GiB"}
    # The GPU index written as a string is the same cap, so the same experiment.
    same = show(llem_cli, "--set", "pytorch.max_memory={'0': 10GiB, cpu: 50GiB}")
    assert same["config_hash"] == capped["config_hash"]


def test_set_backend_drops_the_files_other_backend_section(llem_cli):
    pytest.importorskip("llem_vllm", reason="needs the llem-vllm backend")
    data = show(llem_cli, "--set", "backend=vllm")
    assert data["config"]["backend"] == "vllm" and "pytorch" not in data["config"]
    assert data["config"]["vllm"] is not None
    # Setting a field of the old section on purpose still says it does not apply.
    res = llem_cli(
        "config", "show", str(QUICKSTART), "--set", "backend=vllm", "--set", "pytorch.batch_size=2"
    )
    assert res.exit_code == 2 and "section 'pytorch' does not apply to backend 'vllm'" in res.stderr
