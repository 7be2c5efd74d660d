"""The `pytorch:` section: every field, Literal, bound and cross-field rule, as a user writing YAML meets them."""

from __future__ import annotations

import msgspec
import pytest
from llem.config.resolve import load_experiment
from llem.errors import ConfigError
from llem_pytorch import PyTorchConfig

FIELDS = [f.name for f in msgspec.structs.fields(PyTorchConfig)]
ISSUE_FIELDS = {
    "batch_size", "attn_implementation", "torch_compile", "torch_compile_mode", "torch_compile_backend",
    "load_in_4bit", "load_in_8bit", "bnb_4bit_compute_dtype", "bnb_4bit_quant_type", "bnb_4bit_use_double_quant",
    "use_cache", "cache_implementation", "num_beams", "early_stopping", "length_penalty", "no_repeat_ngram_size",
    "prompt_lookup_num_tokens", "device_map", "max_memory", "revision", "trust_remote_code", "num_processes",
}  # fmt: skip


def convert(**fields):
    return msgspec.convert(fields, PyTorchConfig)


def experiment(pytorch: dict, **top):
    return load_experiment({"model": "random:tiny-llama", "backend": "pytorch", "pytorch": pytorch, **top})


# -- fields and defaults ------------------------------------------------------------------------------------------
def test_section_has_exactly_the_issue_fields():
    assert set(FIELDS) == ISSUE_FIELDS


@pytest.mark.parametrize("name", sorted(ISSUE_FIELDS - {"trust_remote_code"}))
def test_field_defaults_to_none_meaning_transformers_default(name):
    assert getattr(PyTorchConfig(), name) is None


def test_trust_remote_code_defaults_to_false():
    assert PyTorchConfig().trust_remote_code is False
    assert convert(trust_remote_code=True).trust_remote_code is True


def test_every_field_has_a_description():
    info = msgspec.inspect.type_info(PyTorchConfig)
    for field in info.fields:
        t = field.type
        desc = None
        while isinstance(t, msgspec.inspect.Metadata):
            desc = desc or (t.extra_json_schema or {}).get("description")
            t = t.type
        assert desc and len(desc) > 20, f"{field.name} has no real description"


@pytest.mark.parametrize(
    "fields",
    [
        {"batch_size": 8},
        {"num_processes": 2},
        {"torch_compile": True},
        {"torch_compile": False},
        {"torch_compile": True, "torch_compile_mode": "reduce-overhead"},
        {"torch_compile": True, "torch_compile_backend": "eager"},
        {"load_in_4bit": True, "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_quant_type": "nf4"},
        {"load_in_4bit": True, "bnb_4bit_use_double_quant": True},
        {"load_in_8bit": True},
        {"load_in_4bit": False, "load_in_8bit": True},
        {"use_cache": True, "cache_implementation": "static"},
        {"use_cache": False},
        {"num_beams": 4, "early_stopping": True, "length_penalty": 1.5},
        {"num_beams": 2, "early_stopping": "never", "length_penalty": -0.5},
        {"no_repeat_ngram_size": 0},
        {"no_repeat_ngram_size": 3},
        {"prompt_lookup_num_tokens": 10},
        {"prompt_lookup_num_tokens": 3, "batch_size": 1},
        {"device_map": "auto"},
        {"max_memory": {0: "10GiB", "cpu": "50GiB"}},
        {"revision": "0123abc"},
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()),
)
def test_valid_values_are_kept(fields):
    cfg = convert(**fields)
    for key, value in fields.items():
        assert getattr(cfg, key) == value


# -- Literals -------------------------------------------------------------------------------------------------------
LITERALS = {
    "attn_implementation": ["sdpa", "flash_attention_2", "flash_attention_3", "eager"],
    "cache_implementation": ["static", "offloaded_static", "sliding_window"],
    "bnb_4bit_compute_dtype": ["float16", "bfloat16", "float32"],
    "bnb_4bit_quant_type": ["nf4", "fp4"],
}
_NEEDS = {"bnb_4bit_compute_dtype": {"load_in_4bit": True}, "bnb_4bit_quant_type": {"load_in_4bit": True}}


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in LITERALS.items() for v in vs])
def test_literal_value_accepted(name, value):
    assert getattr(convert(**{name: value, **_NEEDS.get(name, {})}), name) == value


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("attn_implementation", "flash_attention"),
        ("attn_implementation", "SDPA"),
        ("cache_implementation", "dynamic"),
        ("bnb_4bit_compute_dtype", "bf16"),
        ("bnb_4bit_quant_type", "int4"),
        ("early_stopping", "always"),
    ],
)
def test_literal_rejects_other_values_naming_the_path(name, bad):
    with pytest.raises(ConfigError, match=rf"\$\.pytorch\.{name}"):
        experiment({name: bad, **_NEEDS.get(name, {})})


# -- bounds and types -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "bad", "expected"),
    [
        ("batch_size", 0, ">= 1"),
        ("batch_size", -3, ">= 1"),
        ("num_processes", 0, ">= 1"),
        ("num_beams", 0, ">= 1"),
        ("no_repeat_ngram_size", -1, ">= 0"),
        ("prompt_lookup_num_tokens", 0, ">= 1"),
        ("batch_size", 2.5, "int"),
        ("torch_compile", "yes", "bool"),
        ("trust_remote_code", None, "bool"),
        ("max_memory", ["10GiB"], "object"),
        ("length_penalty", "long", "float"),
        ("device_map", 0, "str"),
    ],
)
def test_bound_or_type_violation_is_one_line_naming_the_path(name, bad, expected):
    with pytest.raises(ConfigError) as err:
        experiment({name: bad})
    message = str(err.value)
    assert f"$.pytorch.{name}" in message and expected in message and "\n" not in message


@pytest.mark.parametrize(("name", "edge"), [("batch_size", 1), ("num_beams", 1), ("no_repeat_ngram_size", 0)])
def test_bounds_are_inclusive(name, edge):
    assert getattr(convert(**{name: edge}), name) == edge


def test_unknown_field_is_rejected():
    with pytest.raises(ConfigError, match=r"\$\.pytorch.*load_in_3bit|load_in_3bit"):
        experiment({"load_in_3bit": True})


# -- cross-field rules ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"load_in_4bit": True, "load_in_8bit": True},
            "load_in_4bit and load_in_8bit are mutually exclusive",
        ),
        ({"torch_compile_mode": "max-autotune"}, "requires torch_compile=true"),
        ({"torch_compile_backend": "inductor"}, "requires torch_compile=true"),
        ({"torch_compile": False, "torch_compile_mode": "default"}, "requires torch_compile=true"),
        ({"bnb_4bit_compute_dtype": "bfloat16"}, "requires load_in_4bit=true"),
        ({"bnb_4bit_quant_type": "nf4"}, "requires load_in_4bit=true"),
        ({"bnb_4bit_use_double_quant": False}, "requires load_in_4bit=true"),
        ({"load_in_8bit": True, "bnb_4bit_quant_type": "nf4"}, "requires load_in_4bit=true"),
        (
            {"use_cache": False, "cache_implementation": "static"},
            "cache_implementation contradicts use_cache=false",
        ),
        ({"prompt_lookup_num_tokens": 4, "batch_size": 2}, "prompt_lookup_num_tokens needs batch_size 1"),
        ({"prompt_lookup_num_tokens": 4, "num_beams": 2}, "cannot be combined with num_beams > 1"),
        ({"early_stopping": True}, "require num_beams > 1"),
        ({"length_penalty": 2.0, "num_beams": 1}, "require num_beams > 1"),
    ],
)
def test_cross_field_rule_refuses(fields, message):
    with pytest.raises(msgspec.ValidationError, match=message):
        convert(**fields)
    with pytest.raises(ConfigError, match=r"\$\.pytorch"):
        experiment(fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"cache_implementation": "static"},  # use_cache None is fine
        {"use_cache": True, "cache_implementation": "sliding_window"},
        {"load_in_4bit": False, "load_in_8bit": False},
        {"prompt_lookup_num_tokens": 4},  # batch_size None means 1
    ],
)
def test_cross_field_rule_allows(fields):
    convert(**fields)


def test_rules_are_introspectable_with_reason_and_resolution():
    from llem.config.introspect import get_validation_rules

    rules = [r for r in get_validation_rules() if r["backend"] == "pytorch"]
    assert [r["combination"] for r in rules] == [rule.message for rule in PyTorchConfig.__rules__]
    for r in rules:
        assert r["reason"] and r["resolution"]
        assert all(f.startswith("pytorch.") for f in r["fields"])


def test_gpu_requirements_are_declared_on_the_fields():
    from llem.config.introspect import get_backend_params

    params = get_backend_params("pytorch")
    attn = params["pytorch.attn_implementation"].gpu
    assert attn["value_min_compute_capability"] == {"flash_attention_2": 8.0, "flash_attention_3": 9.0}
    assert params["pytorch.cache_implementation"].gpu["needs_cuda"] == ["offloaded_static"]
    assert params["pytorch.load_in_4bit"].gpu["needs_cuda"] is True
    assert params["pytorch.load_in_8bit"].gpu["needs_cuda"] is True


def test_section_only_applies_to_the_pytorch_backend():
    cfg = experiment({"batch_size": 4})
    assert cfg.section().batch_size == 4
    assert cfg.pytorch is cfg.section()
