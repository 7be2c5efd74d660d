"""Build (once) and cache a random-weight checkpoint of a bundled architecture, loadable by any backend.

Needs torch and transformers (a backend's dependencies, not the core's). The checkpoint is safetensors plus a
byte-level tokenizer, so transformers, vLLM and TensorRT-LLM load it like any local model folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llem.models.architectures import architecture

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

# Above this many parameters weights are stored in bf16 (half the disk); backends cast to the run's precision.
_BF16_ABOVE = 100_000_000


def cache_root() -> Path:
    return Path(os.environ.get("LLEM_CACHE_DIR", Path.home() / ".cache" / "llem"))


def random_checkpoint(name: str, seed: int = 0) -> Path:
    """Path of the random-weight checkpoint of architecture `name`, building it on first use."""
    # The architecture's hash is part of the key: editing a bundled config must never reuse stale weights.
    digest = hashlib.sha256(json.dumps(architecture(name), sort_keys=True).encode()).hexdigest()[:8]
    target = cache_root() / "models" / f"{name}-{digest}-seed{seed}"
    if (target / "llem-complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        _build(name, seed, tmp)
        (tmp / "llem-complete").write_text(json.dumps({"architecture": name, "seed": seed}))
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "llem-complete").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _build(name: str, seed: int, folder: Path) -> None:
    # deferred: torch and transformers are heavy; only building a random checkpoint needs them
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg_dict = architecture(name)
    config = AutoConfig.for_model(**cfg_dict)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    if n_params > _BF16_ABOVE:
        model = model.to(torch.bfloat16)
    model.save_pretrained(folder, safe_serialization=True)
    _byte_tokenizer(cfg_dict).save_pretrained(folder)


def _byte_tokenizer(cfg: dict[str, Any]) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with no merges: any text encodes, ids fit every bundled vocabulary."""
    # deferred: heavy; only building a random checkpoint needs them
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = {"<pad>": cfg.get("pad_token_id", 0), "<s>": cfg["bos_token_id"], "</s>": cfg["eos_token_id"]}
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {}
    next_id = 0
    used = set(specials.values())
    for ch in sorted(alphabet):
        while next_id in used:
            next_id += 1
        vocab[ch] = next_id
        next_id += 1
    for tok, idx in specials.items():
        vocab[tok] = idx
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token=None
    )
    fast.model_max_length = cfg.get("max_position_embeddings", 2048)
    return fast
