"""Study expansion: crossing axes, zipped groups, `all`, pruning with the single-run validators, dedup,
errors.

Uses the test-only `toy` backend (tests/conftest.py): its section has an exclusive pair (fast/careful), a
`requires` rule (mode needs fast), and a GPU-gated value (kernel: hopper needs compute capability 9.0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from llem.errors import ConfigError
from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import DeviceInfo, GpuInfo
from llem.study.config import load_study_config, study_from_dict
from llem.study.planning import plan_study

BASE = {"model": "random:tiny-llama", "backend": "toy", "n_prompts": 2}
CPU = DeviceInfo()
AMPERE = DeviceInfo(gpus=(GpuInfo(index=0, name="A100", compute_capability=(8, 0)),))
HOPPER = DeviceInfo(gpus=(GpuInfo(index=0, name="H100", compute_capability=(9, 0)),))


@pytest.fixture
def plugins(toy_site: Path):
    return get_plugin_manager()


def plan(plugins, device=CPU, **study):
    cfg, base = study_from_dict({"base": study.pop("base", BASE), **study})
    return plan_study(cfg, base, plugins=plugins, device=device)


def test_sweep_axes_are_crossed_in_a_stable_order(plugins):
    m = plan(plugins, sweep={"toy.batch_size": [1, 4], "n_prompts": [2, 8]})
    assert [p.overrides for p in m.points] == [
        {"toy.batch_size": 1, "n_prompts": 2},
        {"toy.batch_size": 1, "n_prompts": 8},
        {"toy.batch_size": 4, "n_prompts": 2},
        {"toy.batch_size": 4, "n_prompts": 8},
    ]
    assert [p.id for p in m.points] == ["p001", "p002", "p003", "p004"]
    assert m.points[3].config["toy"]["batch_size"] == 4 and m.points[3].config["n_prompts"] == 8
    assert m.varied == ["toy.batch_size", "n_prompts"]


def test_all_uses_the_introspected_test_values(plugins):
    m = plan(plugins, sweep={"toy.fast": "all"})
    assert [p.config["toy"]["fast"] for p in m.points] == [True, False, None]


def test_groups_are_zipped_then_crossed(plugins):
    m = plan(
        plugins,
        sweep={"toy.batch_size": [1, 2]},
        groups=[{"toy.fast": [True, None], "toy.mode": ["a", None]}],
    )
    combos = [
        (p.config["toy"]["batch_size"], p.config["toy"]["fast"], p.config["toy"]["mode"]) for p in m.points
    ]
    assert combos == [(1, True, "a"), (1, None, None), (2, True, "a"), (2, None, None)]


def test_invalid_combinations_are_pruned_with_the_rule_that_refuses_them(plugins):
    m = plan(plugins, sweep={"toy.fast": [True, None], "toy.careful": [True, None]})
    assert len(m.points) == 3
    (pruned,) = m.pruned
    assert pruned.overrides == {"toy.fast": True, "toy.careful": True}
    assert "fast and careful are mutually exclusive" in pruned.reason


def test_gpu_requirements_prune_for_this_machine_only(plugins):
    study = {"sweep": {"toy.kernel": ["ampere", "hopper"]}}
    on_cpu = plan(plugins, CPU, **study)
    assert on_cpu.points == [] and all("needs an NVIDIA GPU" in p.reason for p in on_cpu.pruned)
    on_ampere = plan(plugins, AMPERE, **study)
    assert [p.config["toy"]["kernel"] for p in on_ampere.points] == ["ampere"]
    assert "needs compute capability 9.0" in on_ampere.pruned[0].reason
    assert len(plan(plugins, HOPPER, **study).points) == 2


def test_identical_resolved_configs_are_measured_once(plugins):
    # batch_size 1 twice, and an explicit experiment equal to a swept point; `name` is not part of the hash.
    m = plan(
        plugins, sweep={"toy.batch_size": [1, 2, 1]}, experiments=[{"toy": {"batch_size": 2}, "name": "x"}]
    )
    assert [p.config["toy"]["batch_size"] for p in m.points] == [1, 2]
    assert [(d.same_as, d.origin) for d in m.duplicates] == [("p001", "sweep"), ("p002", "experiments[0]")]


def test_null_unsets_a_field_so_its_default_applies(plugins):
    m = plan(
        plugins,
        base={**BASE, "toy": {"batch_size": 4}, "precision": "fp16"},
        sweep={"toy.batch_size": [None, 8], "precision": [None]},
    )
    assert [p.config["toy"]["batch_size"] for p in m.points] == [None, 8]
    assert m.points[0].config["precision"] == "bf16"  # the Struct default, not the base's fp16


def test_sweeping_backend_drops_the_base_sections_of_other_backends(toy_site: Path):
    from plugin_dists import TOY_PLUGIN, make_plugin_dist

    toy2 = TOY_PLUGIN.replace('add_backend("toy"', 'add_backend("toy2"')
    make_plugin_dist(toy_site, "llem-toy2", {"llem_toy2": toy2}, {"toy2": "llem_toy2"})
    plugins = get_plugin_manager()
    assert set(plugins.backends) == {"toy", "toy2"}
    m = plan(
        plugins,
        base={**BASE, "toy": {"batch_size": 2}},
        sweep={"backend": ["toy", "toy2"]},
        experiments=[{"backend": "toy2", "toy.batch_size": 1}],
    )
    assert [(p.config["backend"], (p.config.get("toy") or {}).get("batch_size")) for p in m.points] == [
        ("toy", 2),
        ("toy2", None),
    ]
    assert "toy" not in m.points[1].config, "the resolved config leaves other backends' sections out"
    # a point that sets the other backend's section itself is a real mismatch: pruned, not silently dropped
    (pruned,) = m.pruned
    assert pruned.origin == "experiments[0]"
    assert "does not apply to backend" in pruned.reason and "toy2" in pruned.reason


def test_no_axes_means_the_base_alone(plugins):
    m = plan(plugins, cycles=3)
    assert [p.label for p in m.points] == ["base"]
    assert [r.id for r in m.runs] == ["p001-c1", "p001-c2", "p001-c3"]


@pytest.mark.parametrize(
    ("study", "message"),
    [
        (
            {"sweep": {"toy.batch_sise": [1]}},
            "$.sweep.toy.batch_sise: unknown parameter path (did you mean toy.batch_size?)",
        ),
        ({"sweep": {"toy.batch_size": []}}, "$.sweep.toy.batch_size: an axis needs at least one value"),
        (
            {"groups": [{"toy.fast": [True], "toy.mode": ["a", "b"]}]},
            "$.groups[0]: the lists of a group are zipped",
        ),
        (
            {"sweep": {"toy.fast": [True]}, "groups": [{"toy.fast": [None]}]},
            "$.groups[0].toy.fast: already varied",
        ),
        ({"sweep": {"toy.batch_size": "all"}, "cycles": 0}, "$.cycles: Expected int >= 1"),
        ({"order": "random"}, "$.order: Invalid enum value 'random'"),
        ({"sweeps": {}}, "Object contains unknown field sweeps"),
        ({"experiments": [{"sglang": {"x": 1}}]}, "$.experiments[0].sglang.x: unknown parameter path"),
    ],
)
def test_study_errors_are_one_line_and_name_the_path(plugins, study, message):
    with pytest.raises(ConfigError) as exc:
        plan(plugins, **study)
    text = str(exc.value)
    assert message in text and "\n" not in text


def test_base_may_be_a_file_relative_to_the_study(tmp_path: Path, plugins):
    (tmp_path / "base.yaml").write_text("model: random:tiny-llama\nbackend: toy\nn_prompts: 3\n")
    (tmp_path / "study.yaml").write_text("base: base.yaml\nsweep:\n  toy.batch_size: [1, 2]\n")
    cfg, base, _ = load_study_config(tmp_path / "study.yaml")
    m = plan_study(cfg, base, plugins=plugins, device=CPU, study_file=tmp_path / "study.yaml")
    assert m.name == "study" and [p.config["n_prompts"] for p in m.points] == [3, 3]


def test_plan_cli_shows_grid_pruned_and_estimate(tmp_path: Path, toy_site: Path, llem_cli):
    (tmp_path / "s.yaml").write_text(
        "base: {model: 'random:tiny-llama', backend: toy, n_prompts: 4, max_output_tokens: 16}\n"
        "sweep: {toy.fast: [true, null], toy.careful: [true, null]}\ncycles: 2\n"
    )
    r = llem_cli("study", "plan", str(tmp_path / "s.yaml"), cwd=tmp_path)
    assert r.exit_code == 0, r.output
    assert "3 experiments × 2 cycles = 6 runs" in r.stdout
    assert "pruned (1)" in r.stdout and "mutually exclusive" in r.stdout
    assert "estimated duration" in r.stdout and "rough guess" in r.stdout


def test_plan_cli_bad_study_exits_2_with_one_line(tmp_path: Path, toy_site: Path, llem_cli):
    (tmp_path / "s.yaml").write_text("base: {model: m, backend: toy}\ncycles: -1\n")
    r = llem_cli("study", "plan", str(tmp_path / "s.yaml"))
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        f"llem: error: {tmp_path / 's.yaml'}: $.cycles: Expected int >= 1"
    ]
