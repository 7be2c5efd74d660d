"""The `pytorch:` section: every field, Literal, bound and cross-field rule, as a user writing
YAML meets them."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from llem.errors import ConfigError
from llem.run.api import load_config
from llem.run.batching import batch_size
from llem_pytorch import PyTorchConfig
from llem_pytorch._kwargs import compile_kwargs, generate_kwargs, model_kwargs, tokenizer_kwargs
from llem_pytorch.plugin import CAPABILITIES, _is_parallel

FIELDS = [f.name for f in msgspec.structs.fields(PyTorchConfig)]
ISSUE_FIELDS = {
    "batch_size", "attn_implementation", "torch_compile", "torch_compile_mode", "torch_compile_backend",
    "load_in_4bit", "load_in_8bit", "bnb_4bit_compute_dtype", "bnb_4bit_quant_type",
    "bnb_4bit_use_double_quant", "use_cache", "cache_implementation", "num_beams", "early_stopping",
    "length_penalty", "no_repeat_ngram_size", "prompt_lookup_num_tokens", "device_map", "max_memory",
    "revision", "trust_remote_code", "num_processes",
}  # fmt: skip


def convert(**fields):
    return msgspec.convert(fields, PyTorchConfig)


def experiment(pytorch: dict, **top):
    return load_config({"model": "random:tiny-llama", "backend": "pytorch", "pytorch": pytorch, **top})


# -- fields and defaults -------------------------------------------------------------------------------------
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


def landed(cfg) -> dict[str, Any]:
    """What transformers, torch and the lifecycle receive from the `pytorch:` section: the from_pretrained
    kwargs (the BitsAndBytesConfig as its dict), the generate kwargs, the torch.compile kwargs when the model
    is compiled (what _load gates on), the batch size and whether data-parallel workers start."""
    pt = cfg.section()
    model = model_kwargs(cfg, has_cuda=True, has_accelerate=True)
    quant = model.pop("quantization_config", None)
    return {
        "from_pretrained": model,
        "bitsandbytes": quant.to_dict() if quant is not None else None,
        "tokenizer": tokenizer_kwargs(cfg),
        "generate": generate_kwargs(cfg, max_new_tokens=8, fixed_output_length=True),
        "compile": compile_kwargs(pt) if pt.torch_compile else None,
        "batch_size": batch_size(pt, CAPABILITIES, cfg.n_prompts),
        "data_parallel": _is_parallel(cfg),
    }


def differs_without(fields: dict[str, Any], name: str) -> bool | None:
    """Does leaving `name` out of `fields` change what the libraries receive? None if the rest alone is not a
    valid section (then `name` is needed by its companions, which is reaching it too)."""
    rest = {k: v for k, v in fields.items() if k != name}
    try:
        without = experiment(rest)
    except ConfigError:
        return None
    return landed(experiment(fields)) != landed(without)


VALID_CASES = [
    {"batch_size": 8},
    {"num_processes": 2},
    {"torch_compile": True},
    {"torch_compile": True, "torch_compile_mode": "reduce-overhead"},
    {"torch_compile": True, "torch_compile_backend": "eager"},
    {"load_in_4bit": True, "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_quant_type": "nf4"},
    {"load_in_4bit": True, "bnb_4bit_use_double_quant": True},
    {"load_in_8bit": True},
    {"use_cache": True, "cache_implementation": "static"},
    {"use_cache": False},
    {"num_beams": 4, "early_stopping": True, "length_penalty": 1.5},
    {"num_beams": 2, "early_stopping": "never", "length_penalty": -0.5},
    {"no_repeat_ngram_size": 0},
    {"no_repeat_ngram_size": 3},
    {"prompt_lookup_num_tokens": 10},
    {"device_map": "cpu"},
    {"attn_implementation": "eager"},
    {"max_memory": {0: "10GiB", "cpu": "50GiB"}},
    {"revision": "0123abc"},
    {"trust_remote_code": True},
]
# (base, extra): `extra` sets what the libraries (or llem's None) do anyway here: valid, and changes nothing.
SAME_AS_UNSET = [
    ({}, {"torch_compile": False}),
    ({}, {"load_in_4bit": False}),
    ({}, {"load_in_8bit": False}),
    ({}, {"batch_size": 1}),
    ({}, {"device_map": "auto"}),  # None is "auto" on a GPU machine with accelerate
    ({"load_in_8bit": True}, {"load_in_4bit": False}),
    ({"load_in_4bit": True}, {"bnb_4bit_compute_dtype": "float32"}),
    ({"load_in_4bit": True}, {"bnb_4bit_quant_type": "fp4"}),
    ({"prompt_lookup_num_tokens": 3}, {"batch_size": 1}),
]


@pytest.mark.parametrize("fields", VALID_CASES, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_valid_values_reach_the_libraries(fields):
    """Each field of each case changes what transformers/torch/the lifecycle receive (the user's setting is
    not silently dropped); a field only its companions need is accepted as reaching too."""
    ignored = [name for name in fields if differs_without(fields, name) is False]
    assert ignored == [], f"{ignored} validate but change nothing the libraries receive"
    if "load_in_4bit" in fields or "load_in_8bit" in fields:
        assert landed(experiment(fields))["from_pretrained"].get("load_in_4bit") is None  # never raw kwargs


@pytest.mark.parametrize(
    ("base", "extra"), SAME_AS_UNSET, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items())
)
def test_explicit_defaults_are_valid_and_change_nothing(base, extra):
    assert landed(experiment({**base, **extra})) == landed(experiment(base))


def test_every_field_has_a_reaching_case():
    """Meta-test: every field of the section appears in some VALID_CASES row (so it is checked to reach)."""
    covered = {name for case in VALID_CASES for name in case}
    assert covered == ISSUE_FIELDS


# -- Literals ------------------------------------------------------------------------------------------------
LITERALS = {
    "attn_implementation": ["sdpa", "flash_attention_2", "flash_attention_3", "eager"],
    "cache_implementation": ["static", "offloaded_static", "sliding_window"],
    "bnb_4bit_compute_dtype": ["float16", "bfloat16", "float32"],
    "bnb_4bit_quant_type": ["nf4", "fp4"],
}
_NEEDS = {"bnb_4bit_compute_dtype": {"load_in_4bit": True}, "bnb_4bit_quant_type": {"load_in_4bit": True}}


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in LITERALS.items() for v in vs])
def test_literal_value_reaches_the_libraries(name, value):
    seen = landed(experiment({name: value, **_NEEDS.get(name, {})}))
    where = {
        "attn_implementation": seen["from_pretrained"],
        "cache_implementation": seen["generate"],
        "bnb_4bit_compute_dtype": seen["bitsandbytes"],
        "bnb_4bit_quant_type": seen["bitsandbytes"],
    }[name]
    assert str(where[name]) == value


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


# -- bounds and types ----------------------------------------------------------------------------------------
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


@pytest.mark.parametrize(
    ("name", "edge", "where"),
    [("batch_size", 1, ("batch_size",)), ("num_beams", 1, ("generate", "num_beams")),
     ("no_repeat_ngram_size", 0, ("generate", "no_repeat_ngram_size"))],
)  # fmt: skip
def test_bounds_are_inclusive(name, edge, where):
    node = landed(experiment({name: edge}))
    for part in where:
        node = node[part]
    assert node == edge


def test_unknown_field_is_rejected():
    with pytest.raises(ConfigError, match=r"\$\.pytorch.*load_in_3bit|load_in_3bit"):
        experiment({"load_in_3bit": True})


# -- cross-field rules ---------------------------------------------------------------------------------------
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
    from llem.plugins import get_plugin_manager

    rules = [r for r in get_validation_rules(get_plugin_manager()) if r["backend"] == "pytorch"]
    assert [r["combination"] for r in rules] == [rule.message for rule in PyTorchConfig.__rules__]
    for r in rules:
        assert r["reason"] and r["resolution"]
        assert all(f.startswith("pytorch.") for f in r["fields"])


def test_gpu_requirements_are_declared_on_the_fields():
    from llem.config.introspect import get_backend_params
    from llem.plugins import get_plugin_manager

    params = get_backend_params("pytorch", get_plugin_manager())
    attn = params["pytorch.attn_implementation"].gpu
    assert attn["value_min_compute_capability"] == {"flash_attention_2": 8.0, "flash_attention_3": 9.0}
    assert params["pytorch.cache_implementation"].gpu["needs_cuda"] == ["offloaded_static"]
    assert params["pytorch.load_in_4bit"].gpu["needs_cuda"] is True
    assert params["pytorch.load_in_8bit"].gpu["needs_cuda"] is True


def test_section_only_applies_to_the_pytorch_backend():
    cfg = experiment({"batch_size": 4})
    assert cfg.section().batch_size == 4
    assert cfg.pytorch is cfg.section()
