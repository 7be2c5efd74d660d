"""FLOPs and bytes a decoder-only transformer needs for a workload, estimated from its shape.

FLOPs: 2 × N_non_embedding per processed token (matmuls, LM head included) plus causal attention,
4 × layers × (heads × head_dim) × context per token (QKᵀ and AV). A request with n input and m output tokens
processes n + m − 1 tokens (the last output token is never fed back).

Bytes: memory-bound decoding reads every weight once per forward step of a batch, plus each request's KV cache
so far. The number of forward steps of a batch is 1 (prefill) + its longest output − 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from llem.models.info import ModelInfo

BYTES_PER_VALUE = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0}


def request_flops(info: ModelInfo, input_tokens: int, output_tokens: int) -> float:
    """Estimated FLOPs to prefill `input_tokens` and decode `output_tokens` (greedy, no speculation)."""
    processed = input_tokens + max(output_tokens, 1) - 1
    dense = 2.0 * info.n_params_non_embedding * processed
    attn_width = info.num_heads * info.head_dim
    # sum over positions 1..processed of the context each token attends to (causal)
    context_sum = processed * (processed + 1) / 2
    attention = 4.0 * info.num_layers * attn_width * context_sum
    return dense + attention


def batch_bytes(info: ModelInfo, requests: Sequence[tuple[int, int]], bytes_per_value: float) -> float:
    """Estimated bytes read from device memory to run one batch of (input_tokens, output_tokens) requests."""
    if not requests:
        return 0.0
    steps = max(max(out for _, out in requests), 1)
    weights = info.n_params_non_embedding * bytes_per_value * steps
    kv_per_token = info.kv_bytes_per_token(bytes_per_value)
    kv = 0.0
    for n_in, n_out in requests:
        # decode step k (1..n_out-1) reads the cache of n_in + k - 1 positions... summed in closed form
        k = max(n_out, 1) - 1
        kv += kv_per_token * (k * n_in + k * (k - 1) / 2)
    return weights + kv
