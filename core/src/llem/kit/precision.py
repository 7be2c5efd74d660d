"""Precision → dtype: llem's precision names as the libraries spell them."""

from __future__ import annotations

from typing import Any

# llem precision -> the dtype name torch, vLLM and TensorRT-LLM all accept.
DTYPE_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def dtype_name(precision: str) -> str:
    """The library spelling of `precision` ("bf16" -> "bfloat16"); the config refuses any other name."""
    return DTYPE_NAMES[precision]


def torch_dtype(precision: str) -> Any:
    """The torch dtype object of `precision` (imports torch)."""
    import torch  # deferred: heavy; only backends that already use torch call this

    return getattr(torch, DTYPE_NAMES[precision])
