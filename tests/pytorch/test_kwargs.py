"""The config -> transformers kwargs mapping, as pure functions (config in, kwargs out)."""

from __future__ import annotations

import pytest
import torch
from llem.kit.unvalidated import unvalidated_keys, unvalidated_settings
from llem.run.api import load_config
from llem_pytorch import _kwargs
from transformers import BitsAndBytesConfig


def experiment(pytorch: dict | None = None, **top):
    data = {"model": "random:tiny-llama", "backend": "pytorch", "pytorch": pytorch or {}, **top}
    return load_config(data)


def gen(config, max_new_tokens: int = 16, fixed: bool = False) -> dict:
    return _kwargs.generate_kwargs(config, max_new_tokens=max_new_tokens, fixed_output_length=fixed)


def load_kwargs(config, *, has_cuda=False, has_accelerate=True, device_override=None) -> dict:
    return _kwargs.model_kwargs(
        config, has_cuda=has_cuda, has_accelerate=has_accelerate, device_override=device_override
    )


# -- from_pretrained -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("precision", "dtype"), [("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16)]
)
def test_dtype_follows_precision(precision, dtype):
    assert load_kwargs(experiment(precision=precision))["dtype"] is dtype


def test_none_fields_produce_no_load_kwargs():
    kwargs = load_kwargs(experiment())
    for key in ("revision", "max_memory", "quantization_config", "attn_implementation", "load_in_4bit",
                "load_in_8bit", "device_map"):  # fmt: skip
        assert key not in kwargs
    assert kwargs == {"dtype": torch.bfloat16, "trust_remote_code": False}


def test_trust_remote_code_is_explicit_for_model_and_tokenizer():
    cfg = experiment({"trust_remote_code": True})
    assert load_kwargs(cfg)["trust_remote_code"] is True
    assert _kwargs.tokenizer_kwargs(cfg)["trust_remote_code"] is True
    assert _kwargs.tokenizer_kwargs(experiment())["trust_remote_code"] is False


def test_revision_reaches_model_and_tokenizer():
    cfg = experiment({"revision": "abc123"})
    assert load_kwargs(cfg)["revision"] == "abc123"
    assert _kwargs.tokenizer_kwargs(cfg)["revision"] == "abc123"


def test_max_memory_keys_become_gpu_indices():
    cfg = experiment({"max_memory": {"0": "10GiB", 1: "12GiB", "cpu": "50GiB"}})
    assert load_kwargs(cfg, has_cuda=True)["max_memory"] == {0: "10GiB", 1: "12GiB", "cpu": "50GiB"}


def test_attn_implementation_passed_when_set():
    assert load_kwargs(experiment({"attn_implementation": "eager"}))["attn_implementation"] == "eager"


@pytest.mark.parametrize(
    ("pytorch", "has_cuda", "has_accelerate", "override", "expected"),
    [
        ({}, False, True, None, (None, None)),  # CPU: transformers' own default placement
        ({}, True, True, None, ("auto", None)),
        ({}, True, False, None, (None, "cuda")),  # device_map needs accelerate: move after loading instead
        ({"device_map": "sequential"}, True, True, None, ("sequential", None)),
        ({"device_map": "cpu"}, True, True, None, ("cpu", None)),
        ({}, True, True, "cuda:1", ("cuda:1", None)),
        ({}, True, False, "cuda:1", (None, "cuda:1")),
    ],
)
def test_placement(pytorch, has_cuda, has_accelerate, override, expected):
    pt = experiment(pytorch).section()
    got = _kwargs.placement(pt, has_cuda=has_cuda, has_accelerate=has_accelerate, device_override=override)
    assert got == expected


def test_device_map_kwarg_matches_placement():
    assert load_kwargs(experiment(), has_cuda=True)["device_map"] == "auto"
    assert "device_map" not in load_kwargs(experiment(), has_cuda=True, has_accelerate=False)


def test_4bit_goes_through_bitsandbytes_config_never_raw_kwargs():
    cfg = experiment(
        {"load_in_4bit": True, "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_quant_type": "nf4",
         "bnb_4bit_use_double_quant": True}
    )  # fmt: skip
    kwargs = load_kwargs(cfg, has_cuda=True)
    assert "load_in_4bit" not in kwargs and "load_in_8bit" not in kwargs
    q = kwargs["quantization_config"]
    assert isinstance(q, BitsAndBytesConfig)
    assert q.load_in_4bit and not q.load_in_8bit
    assert q.bnb_4bit_compute_dtype is torch.bfloat16
    assert q.bnb_4bit_quant_type == "nf4"
    assert q.bnb_4bit_use_double_quant is True


def test_4bit_unset_options_keep_bitsandbytes_defaults():
    q = load_kwargs(experiment({"load_in_4bit": True}))["quantization_config"]
    default = BitsAndBytesConfig(load_in_4bit=True)
    assert (q.bnb_4bit_quant_type, q.bnb_4bit_compute_dtype, q.bnb_4bit_use_double_quant) == (
        default.bnb_4bit_quant_type, default.bnb_4bit_compute_dtype, default.bnb_4bit_use_double_quant,
    )  # fmt: skip


def test_8bit_goes_through_bitsandbytes_config():
    q = load_kwargs(experiment({"load_in_8bit": True}))["quantization_config"]
    assert isinstance(q, BitsAndBytesConfig) and q.load_in_8bit and not q.load_in_4bit


@pytest.mark.parametrize(
    ("pytorch", "expected"),
    [
        ({"torch_compile": True}, {}),
        ({"torch_compile": True, "torch_compile_mode": "reduce-overhead"}, {"mode": "reduce-overhead"}),
        ({"torch_compile": True, "torch_compile_backend": "eager"}, {"backend": "eager"}),
    ],
)
def test_compile_kwargs(pytorch, expected):
    assert _kwargs.compile_kwargs(experiment(pytorch).section()) == expected


# -- generate ------------------------------------------------------------------------------------------------
def test_none_fields_produce_no_generate_kwargs():
    kwargs = gen(experiment())
    for key in ("min_p", "min_new_tokens", "num_beams", "early_stopping", "length_penalty", "use_cache",
                "cache_implementation", "no_repeat_ngram_size", "prompt_lookup_num_tokens"):  # fmt: skip
        assert key not in kwargs
    # The decoder's own fields always have a value (its defaults are llem's, stated in the config).
    assert kwargs == {"max_new_tokens": 16, "do_sample": True, "temperature": 1.0, "top_k": 50, "top_p": 1.0,
                      "repetition_penalty": 1.0}  # fmt: skip


def test_decoder_min_p_and_min_new_tokens():
    kwargs = gen(experiment(decoder={"min_p": 0.1, "min_new_tokens": 10}, fixed_output_length=False))
    assert kwargs["min_p"] == 0.1 and kwargs["min_new_tokens"] == 10


def test_fixed_output_length_forces_min_equal_max():
    kwargs = gen(experiment(), max_new_tokens=32, fixed=True)
    assert kwargs["min_new_tokens"] == kwargs["max_new_tokens"] == 32


@pytest.mark.parametrize("decoder", [{"temperature": 0.0}, {"do_sample": False}, {"preset": "deterministic"}])
def test_greedy_strips_sampling_parameters(decoder):
    kwargs = gen(experiment(decoder={**decoder, "min_p": 0.2, "top_k": 5}))
    assert kwargs["do_sample"] is False
    for key in ("temperature", "top_k", "top_p", "min_p"):
        assert key not in kwargs
    assert kwargs["repetition_penalty"] == 1.0  # not a sampling-only parameter: greedy honours it


def test_sampling_keeps_sampling_parameters():
    kwargs = gen(experiment(decoder={"temperature": 0.7, "top_k": 20, "top_p": 0.9, "min_p": 0.05}))
    assert kwargs["do_sample"] is True
    assert (kwargs["temperature"], kwargs["top_k"], kwargs["top_p"], kwargs["min_p"]) == (0.7, 20, 0.9, 0.05)


@pytest.mark.parametrize(
    ("pytorch", "expected"),
    [
        ({"num_beams": 4, "early_stopping": True, "length_penalty": 1.5},
         {"num_beams": 4, "early_stopping": True, "length_penalty": 1.5}),
        ({"use_cache": True, "cache_implementation": "static"},
         {"use_cache": True, "cache_implementation": "static"}),
        ({"use_cache": False}, {"use_cache": False}),
        ({"no_repeat_ngram_size": 2}, {"no_repeat_ngram_size": 2}),
        ({"prompt_lookup_num_tokens": 3}, {"prompt_lookup_num_tokens": 3}),
    ],
)  # fmt: skip
def test_section_fields_reach_generate_kwargs(pytorch, expected):
    kwargs = gen(experiment(pytorch))
    assert {k: kwargs[k] for k in expected} == expected


@pytest.mark.parametrize(
    "name", ["batch_size", "num_processes", "torch_compile", "device_map", "revision", "trust_remote_code"]
)
def test_load_time_fields_never_reach_generate(name):
    values = {"batch_size": 2, "num_processes": 2, "torch_compile": True, "device_map": "cpu",
              "revision": "x", "trust_remote_code": True}  # fmt: skip
    assert name not in gen(experiment({name: values[name]}))


def test_passthrough_merged_last_overrides_and_is_reported():
    cfg = experiment({"num_beams": 2}, passthrough_kwargs={"num_beams": 3, "suppress_tokens": [5]})
    kwargs = gen(cfg)
    assert kwargs["num_beams"] == 3 and kwargs["suppress_tokens"] == [5]
    assert unvalidated_settings(cfg) == {"passthrough_kwargs": {"num_beams": 3, "suppress_tokens": [5]}}
    assert unvalidated_keys(cfg) == ["passthrough_kwargs.num_beams", "passthrough_kwargs.suppress_tokens"]
    assert unvalidated_settings(experiment()) == {}


def test_generate_kwargs_is_pure():
    cfg = experiment({"num_beams": 2}, passthrough_kwargs={"suppress_tokens": [5]})
    first = gen(cfg)
    first.pop("num_beams")
    first["max_new_tokens"] = 1
    again = gen(cfg)
    assert again["num_beams"] == 2 and again["max_new_tokens"] == 16
    assert cfg.passthrough_kwargs == {"suppress_tokens": [5]}
