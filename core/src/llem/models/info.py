"""A model's shape (layers, widths, vocabulary, parameter count), for FLOP and byte estimates and prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from llem.errors import UserError
from llem.models.architectures import architecture, is_random, random_name


class ModelInfo(msgspec.Struct, kw_only=True, frozen=True):
    """Transformer shape; parameter counts are computed from it, not read from weights."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tie_word_embeddings: bool

    @property
    def n_params(self) -> int:
        """Parameters of a Llama-style decoder (attention, gated MLP, norms, embeddings)."""
        attn = self.hidden_size * self.head_dim * (2 * self.num_heads + 2 * self.num_kv_heads)
        mlp = 3 * self.hidden_size * self.intermediate_size
        norms = 2 * self.hidden_size
        per_layer = attn + mlp + norms
        emb = self.vocab_size * self.hidden_size
        return self.num_layers * per_layer + emb * (1 if self.tie_word_embeddings else 2) + self.hidden_size

    @property
    def n_params_non_embedding(self) -> int:
        """Parameters touched by matmuls per token (the LM head included, the embedding lookup not)."""
        return self.n_params - self.vocab_size * self.hidden_size * (0 if self.tie_word_embeddings else 1)

    def kv_bytes_per_token(self, bytes_per_value: float) -> float:
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * bytes_per_value


def info_from_config(cfg: dict[str, Any]) -> ModelInfo:
    heads = cfg.get("num_attention_heads") or cfg.get("n_head")
    hidden = cfg.get("hidden_size") or cfg.get("n_embd")
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer")
    if not heads or not hidden:
        raise UserError("model config has no hidden_size/num_attention_heads: cannot estimate its shape")
    if not layers:
        raise UserError("model config has no num_hidden_layers: cannot estimate its shape")
    return ModelInfo(
        model_type=cfg.get("model_type", "unknown"),
        vocab_size=int(cfg["vocab_size"]),
        hidden_size=int(hidden),
        intermediate_size=int(cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * hidden),
        num_layers=int(layers),
        num_heads=int(heads),
        num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
        head_dim=int(cfg.get("head_dim") or hidden // heads),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
    )


def read_model_config(model: str, revision: str | None = None, *, local_only: bool = False) -> dict[str, Any]:
    """config.json of a bundled architecture, a local folder, or (needs huggingface_hub) a hub id.

    local_only: take a hub id's config.json from the local Hugging Face cache only, never from the network
    (what bookkeeping needs: a run has already downloaded it, a plan must not wait on a network).
    """
    if is_random(model):
        return architecture(random_name(model))
    local = Path(model).expanduser()
    if local.is_dir():
        cfg = local / "config.json"
        if not cfg.is_file():
            raise UserError(f"{local}: no config.json in this model folder")
        return _json_object(cfg)
    try:
        # deferred: optional and heavy; only a hub model id needs it
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise UserError(
            f"$.model: {model!r} is not a local folder and huggingface_hub is not installed"
        ) from None
    try:
        path = hf_hub_download(model, "config.json", revision=revision, local_files_only=local_only)
    except Exception as exc:
        raise UserError(f"$.model: cannot fetch config.json of {model!r} ({type(exc).__name__})") from None
    return _json_object(Path(path))


def _json_object(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise UserError(f"{path}: config.json is not a JSON object")
    return data


def model_info(model: str, revision: str | None = None, *, local_only: bool = False) -> ModelInfo:
    """The shape of `model` (random:NAME, a local folder or a hub id; see read_model_config for
    local_only)."""
    return info_from_config(read_model_config(model, revision, local_only=local_only))
