"""Config semantics: decoder presets and precedence, overrides, defaults filled in, hashing."""

from __future__ import annotations

import msgspec
import pytest
from llem.config import DecoderConfig
from llem.config.decoder import PRESETS
from llem.config.load import apply_overrides, parse_override
from llem.config.resolve import config_hash, load_experiment, to_dict
from llem.errors import ConfigError
from llem.plugins import get_plugin_manager

BASE = {"model": "random:tiny-llama", "backend": "toy"}


@pytest.fixture
def plugins(toy_site):
    return get_plugin_manager()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_expands_to_its_values(preset):
    d = DecoderConfig(preset=preset)
    for field, value in PRESETS[preset].items():
        assert getattr(d, field) == value


def test_explicit_field_overrides_preset():
    d = msgspec.convert({"preset": "deterministic", "temperature": 0.7, "do_sample": True}, DecoderConfig)
    assert d.temperature == 0.7 and d.do_sample is True
    assert not d.greedy


def test_unset_fields_take_documented_defaults():
    d = DecoderConfig()
    assert (d.temperature, d.do_sample, d.top_k, d.top_p, d.repetition_penalty) == (1.0, True, 50, 1.0, 1.0)
    assert d.min_p is None and d.min_new_tokens is None


def test_greedy_from_temperature_or_do_sample():
    assert DecoderConfig(temperature=0.0).greedy
    assert DecoderConfig(do_sample=False).greedy
    assert DecoderConfig(preset="deterministic").greedy
    assert not DecoderConfig(preset="creative").greedy


def test_resolved_config_round_trips_to_same_hash(plugins):
    cfg = load_experiment({**BASE, "decoder": {"preset": "factual", "top_k": 3}}, plugins=plugins)
    again = load_experiment(to_dict(cfg), plugins=plugins)
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert again.decoder.top_k == 3 and again.decoder.temperature == PRESETS["factual"]["temperature"]


def test_hash_ignores_name_and_output_dir_but_not_settings(plugins):
    a = load_experiment(BASE, plugins=plugins)
    b = load_experiment({**BASE, "name": "other", "output_dir": "/elsewhere"}, plugins=plugins)
    c = load_experiment({**BASE, "toy": {"batch_size": 4}}, plugins=plugins)
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(c)


def test_backend_section_is_filled_with_defaults(plugins):
    cfg = load_experiment(BASE, plugins=plugins)
    assert cfg.section() is cfg.toy
    assert cfg.section(type(cfg.toy)) is cfg.toy  # typed access for the backend's own code
    with pytest.raises(TypeError, match="the 'toy' section is"):
        cfg.section(DecoderConfig)  # another Struct than the backend's: a bug, said plainly
    assert to_dict(cfg)["toy"] == {
        "batch_size": None,
        "fast": None,
        "careful": None,
        "mode": None,
        "kernel": None,
    }


@pytest.mark.parametrize(
    ("item", "path", "value"),
    [
        ("toy.batch_size=4", ["toy", "batch_size"], 4),
        ("decoder.temperature=0.5", ["decoder", "temperature"], 0.5),
        ("toy.fast=true", ["toy", "fast"], True),
        ("name=run 1", ["name"], "run 1"),
        ("measurement.gpu_indices=[0, 1]", ["measurement", "gpu_indices"], [0, 1]),
        ("toy.mode=", ["toy", "mode"], None),
    ],
)
def test_override_values_are_typed(item, path, value):
    assert parse_override(item) == (path, value)


def test_overrides_apply_and_validate(plugins):
    cfg = load_experiment(
        BASE, overrides=["toy.batch_size=8", "decoder.preset=deterministic"], plugins=plugins
    )
    assert cfg.toy.batch_size == 8 and cfg.decoder.greedy
    with pytest.raises(ConfigError, match=r"\$\.toy\.batch_size: Expected int >= 1"):
        load_experiment(BASE, overrides=["toy.batch_size=0"], plugins=plugins)


def test_override_through_a_scalar_is_refused():
    with pytest.raises(ConfigError, match=r"cannot set model\.x: model is not a mapping"):
        apply_overrides({"model": "m"}, ["model.x=1"])


def test_file_prompt_path_is_relative_to_config(plugins, tmp_path):
    (tmp_path / "sub").mkdir()
    cfg_file = tmp_path / "sub" / "c.yaml"
    cfg_file.write_text("model: m\nbackend: toy\nprompts: {source: file, path: prompts.jsonl}\n")
    cfg = load_experiment(cfg_file, plugins=plugins)
    assert cfg.prompts.path == str(tmp_path / "sub" / "prompts.jsonl")


def test_prompt_source_defaults_to_synthetic(plugins):
    cfg = load_experiment(
        {**BASE, "prompts": {"distribution": "uniform", "min_input_tokens": 8}}, plugins=plugins
    )
    assert type(cfg.prompts).__name__ == "SyntheticPrompts" and cfg.prompts.min_input_tokens == 8


def test_presets_checked_at_import():
    # The import-time check is what makes a bad preset table a bug, not a user error: exercise
    # its failure path.
    from llem.config import decoder

    saved = dict(decoder.PRESETS)
    try:
        decoder.PRESETS["broken"] = {"temperature": 9.0}
        with pytest.raises(AssertionError, match="broken"):
            decoder._check_presets()
    finally:
        decoder.PRESETS.clear()
        decoder.PRESETS.update(saved)


def test_section_of_another_installed_backend_is_rejected():
    from test_plugins import _Minimal

    plugins = get_plugin_manager(entry_points=False)
    plugins.register(_Minimal("one"), "one")
    plugins.register(_Minimal("two"), "two")
    with pytest.raises(ConfigError, match=r"^\$: section 'two' does not apply to backend 'one'$"):
        load_experiment({"model": "m", "backend": "one", "two": {}}, plugins=plugins)
