"""The one mapping from the experiment config to transformers' keyword arguments (pure functions).

A config field left None produces no keyword argument: transformers' own default applies. `torch` is imported
only for the dtype objects and BitsAndBytesConfig, inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llem.kit.decoder import decoder_intent
from llem.kit.precision import torch_dtype

from llem_pytorch._config import PyTorchConfig
from llem_pytorch.plugin import CAPABILITIES

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase


# Fields of the pytorch section passed to generate under their own name when set.
_GENERATE_FIELDS = (
    "use_cache",
    "cache_implementation",
    "num_beams",
    "early_stopping",
    "length_penalty",
    "no_repeat_ngram_size",
    "prompt_lookup_num_tokens",
)


def _section(config: ExperimentBase) -> PyTorchConfig:
    return config.section(PyTorchConfig)


def placement(
    pt: PyTorchConfig, *, has_cuda: bool, has_accelerate: bool, device_override: str | None = None
) -> tuple[str | None, str | None]:
    """Where the weights go: (device_map for from_pretrained or None, device to move the model to or None).

    transformers needs accelerate for any device_map, even "cpu", and accelerate is optional: without it a
    single-device placement becomes a plain `.to(device)` after loading. A user's device_map is passed as
    given (validation has checked accelerate is there). device_override is the one device of a
    data-parallel worker.
    """
    if device_override is not None:
        return (device_override, None) if has_accelerate else (None, device_override)
    if pt.device_map is not None:
        return pt.device_map, None
    if has_cuda:
        # "auto" spreads a model that does not fit one GPU over all visible ones; without accelerate: GPU 0.
        return ("auto", None) if has_accelerate else (None, "cuda")
    return None, None  # transformers loads onto the CPU by default


def quantization_config(pt: PyTorchConfig) -> Any | None:
    """A BitsAndBytesConfig for the bitsandbytes fields, or None when no quantisation is asked for.

    transformers deprecated raw load_in_4bit/load_in_8bit kwargs to from_pretrained; the config object is the
    supported way, and it carries the bnb_4bit_* options.
    """
    if not (pt.load_in_4bit or pt.load_in_8bit):
        return None
    from transformers import BitsAndBytesConfig

    kwargs: dict[str, Any] = {}
    if pt.load_in_4bit:
        kwargs["load_in_4bit"] = True
        if pt.bnb_4bit_compute_dtype is not None:
            import torch

            kwargs["bnb_4bit_compute_dtype"] = getattr(torch, pt.bnb_4bit_compute_dtype)
        if pt.bnb_4bit_quant_type is not None:
            kwargs["bnb_4bit_quant_type"] = pt.bnb_4bit_quant_type
        if pt.bnb_4bit_use_double_quant is not None:
            kwargs["bnb_4bit_use_double_quant"] = pt.bnb_4bit_use_double_quant
    else:
        kwargs["load_in_8bit"] = True
    return BitsAndBytesConfig(**kwargs)


def _max_memory(value: dict[int | str, int | str]) -> dict[int | str, int | str]:
    # Keys arrive as strings from JSON or `-o` overrides; accelerate wants GPU indices as ints.
    return {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in value.items()}


def model_kwargs(
    config: ExperimentBase, *, has_cuda: bool, has_accelerate: bool, device_override: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for `AutoModelForCausalLM.from_pretrained` (see `placement` for the device)."""
    pt = _section(config)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(config.precision)}
    device_map, _ = placement(
        pt, has_cuda=has_cuda, has_accelerate=has_accelerate, device_override=device_override
    )
    if device_map is not None:
        kwargs["device_map"] = device_map
    quant = quantization_config(pt)
    if quant is not None:
        kwargs["quantization_config"] = quant
    if pt.attn_implementation is not None:
        kwargs["attn_implementation"] = pt.attn_implementation
    if pt.revision is not None:
        kwargs["revision"] = pt.revision
    if pt.max_memory is not None and device_override is None:
        kwargs["max_memory"] = _max_memory(pt.max_memory)
    # Always explicit: a safety setting should not depend on a library default that could change.
    kwargs["trust_remote_code"] = pt.trust_remote_code
    return kwargs


def tokenizer_kwargs(config: ExperimentBase) -> dict[str, Any]:
    """Keyword arguments for `AutoTokenizer.from_pretrained` (same revision and trust as the model)."""
    pt = _section(config)
    kwargs: dict[str, Any] = {"trust_remote_code": pt.trust_remote_code}
    if pt.revision is not None:
        kwargs["revision"] = pt.revision
    return kwargs


def compile_kwargs(pt: PyTorchConfig) -> dict[str, Any]:
    """Keyword arguments for `torch.compile` (empty means torch's defaults: mode 'default', backend
    'inductor')."""
    kwargs: dict[str, Any] = {}
    if pt.torch_compile_mode is not None:
        kwargs["mode"] = pt.torch_compile_mode
    if pt.torch_compile_backend is not None:
        kwargs["backend"] = pt.torch_compile_backend
    return kwargs


def generate_kwargs(
    config: ExperimentBase, *, max_new_tokens: int, fixed_output_length: bool
) -> dict[str, Any]:
    """Keyword arguments for `model.generate`, passthrough_kwargs merged last.

    Greedy decoding (temperature 0 or do_sample false) sends do_sample=False and strips the sampling-only
    parameters. With fixed_output_length every prompt produces exactly max_new_tokens tokens (min_new_tokens =
    max_new_tokens: end-of-sequence is suppressed until then).
    """
    pt = _section(config)
    intent = decoder_intent(config, CAPABILITIES)
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens}
    kwargs.update(intent.applied)
    if fixed_output_length:
        kwargs["min_new_tokens"] = max_new_tokens
    for name in _GENERATE_FIELDS:
        value = getattr(pt, name)
        if value is not None:
            kwargs[name] = value
    if config.passthrough_kwargs:
        kwargs.update(config.passthrough_kwargs)
    return kwargs
