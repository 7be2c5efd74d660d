"""Introspection is derived from the Structs and rules: test values, exclusions, GPU tiers, matrix, schema."""

from __future__ import annotations

import json

import pytest
from llem.config import introspect as ix
from llem.config.base import Section
from llem.config.schema import experiment_type, json_schema
from llem.plugins import get_plugin_manager, matrix


@pytest.fixture
def plugins(toy_site):
    return get_plugin_manager()


def test_backend_params_have_types_defaults_and_test_values(plugins):
    params = ix.get_backend_params("toy", plugins)
    assert list(params) == ["toy.batch_size", "toy.fast", "toy.careful", "toy.mode", "toy.kernel"]
    bs = params["toy.batch_size"]
    assert (bs.type, bs.nullable, bs.default, bs.ge) == ("int", True, None, 1)
    assert bs.test_values == [1, 2, 8, None]
    assert params["toy.fast"].test_values == [True, False, None]
    assert params["toy.mode"].test_values == ["a", "b", None]  # from Meta(examples=...)
    assert params["toy.batch_size"].description == "Prompts per batch."


def test_shared_params_include_literals_and_bounds():
    shared = ix.get_shared_params()
    assert shared["precision"].allowed_values == ["bf16", "fp16", "fp32"]
    assert shared["decoder.temperature"].test_values == [0.0, 1.0, 2.0]
    assert shared["decoder.preset"].test_values[-1] is None
    assert shared["prompts.source"].allowed_values == ["synthetic", "file", "dataset"]
    assert shared["model"].required


def test_every_shared_param_is_described():
    missing = [p for p, info in ix.get_shared_params().items() if not info.description]
    assert missing == []


def test_mutual_exclusions_come_from_rules(plugins):
    excl = ix.get_mutual_exclusions(plugins)
    assert excl["toy.fast"] == ["toy.careful"]
    assert excl["toy.careful"] == ["toy.fast"]
    assert excl["toy.mode"] == ["toy.fast!=true"]


def test_validation_rules_match_enforcement(plugins):
    rules = [r for r in ix.get_validation_rules(plugins) if r["backend"] == "toy"]
    assert {r["combination"] for r in rules} == {
        "fast and careful are mutually exclusive",
        "mode requires fast=true",
    }
    assert all(r["reason"] and r["resolution"] for r in ix.get_validation_rules(plugins))


def test_gpu_capability_tiers(plugins):
    assert ix.get_params_requiring_gpu_capability(8.0, plugins) == ["toy.kernel=ampere"]
    assert ix.get_params_requiring_gpu_capability(9.0, plugins) == ["toy.kernel=ampere", "toy.kernel=hopper"]
    unsupported = ix.get_params_unsupported_on(8.6, plugins)
    assert unsupported == {"toy.kernel=hopper": "needs compute capability 9.0, have 8.6"}
    assert set(ix.get_params_unsupported_on(None, plugins)) == {"toy.kernel=ampere", "toy.kernel=hopper"}
    assert ix.get_param_skip_conditions(plugins)["toy.kernel=hopper"].startswith(
        "Requires compute capability 9.0"
    )


def test_gpu_requirements_refused_before_loading(plugins):
    from llem.config.resolve import load_experiment
    from llem.plugins.types import DeviceInfo, GpuInfo
    from llem.plugins.validate import gpu_requirement_problems

    cfg = load_experiment({"model": "m", "backend": "toy", "toy": {"kernel": "hopper"}}, plugins=plugins)
    ampere = DeviceInfo(gpus=(GpuInfo(index=0, name="A100", compute_capability=(8, 0)),))
    hopper = DeviceInfo(gpus=(GpuInfo(index=0, name="H100", compute_capability=(9, 0)),))
    assert gpu_requirement_problems(cfg, ampere, plugins) == [
        "toy.kernel: hopper needs compute capability 9.0+, the GPU has 8.0"
    ]
    assert gpu_requirement_problems(cfg, hopper, plugins) == []
    assert gpu_requirement_problems(cfg, DeviceInfo(), plugins) == [
        "toy.kernel: hopper needs an NVIDIA GPU with compute capability 9.0+; none is visible"
    ]


def test_capability_matrix_and_support_tables(plugins):
    md = matrix.get_capability_matrix_markdown(plugins)
    assert md.splitlines()[0].startswith("| Capability |") and "toy" in md.splitlines()[0]
    assert "| precisions |" in md
    assert matrix.get_precision_support(plugins)["toy"] == ["fp32", "fp16", "bf16"]
    assert matrix.get_decoder_param_support(plugins)["toy"] == ["temperature"]


def test_json_schema_covers_installed_backends(plugins):
    schema = json_schema(plugins.experiment_type())
    text = json.dumps(schema)
    assert "ToyConfig" in text and "DecoderConfig" in text
    props = schema["$defs"]["ExperimentConfig"]["properties"]
    assert "toy" in props and "toy" in props["backend"]["enum"]


def test_schema_cli(toy_site, llem_cli):
    result = llem_cli("schema")
    assert result.exit_code == 0
    assert "toy" in json.loads(result.stdout)["$defs"]["ExperimentConfig"]["properties"]


def test_backends_show_cli(toy_site, llem_cli):
    result = llem_cli("backends", "show", "toy")
    assert result.exit_code == 0
    assert "toy.batch_size" in result.stdout and "Prompts per batch." in result.stdout
    as_json = json.loads(llem_cli("backends", "show", "toy", "--json").stdout)
    assert as_json["toy.kernel"]["gpu"] == {"value_min_compute_capability": {"hopper": 9.0, "ampere": 8.0}}
    missing = llem_cli("backends", "show", "nope")
    assert missing.exit_code == 2 and "'nope' is not installed" in missing.stderr


def test_schema_section_description_is_the_whole_first_paragraph():
    class Wrapped(Section):
        """An engine whose summary is wrapped over
        two lines.

        Details that stay out of the schema."""

    props = json_schema(experiment_type({"wrapped": Wrapped}))["$defs"]["ExperimentConfig"]["properties"]
    assert props["wrapped"]["description"] == (
        "Settings of the wrapped backend. An engine whose summary is wrapped over two lines."
    )
