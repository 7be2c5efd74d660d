"""Data passed across the plugin boundary: prompts in, token counts and timings out, capabilities, devices."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta


class Prompt(msgspec.Struct, kw_only=True, frozen=True):
    """One prompt: token ids (synthetic prompts) or text (file/dataset prompts); exactly one is set."""

    token_ids: list[int] | None = None
    text: str | None = None


class Batch(msgspec.Struct, kw_only=True):
    """Prompts the backend runs together in one `generate` call.

    `phase`: "warmup" before the window, "measure" inside it, "prefill" for the prefill-only passes after it
    (`max_new_tokens` 1; the core measures their energy as the prefill energy). The core owns the clock and the
    energy counter: a backend does no synchronisation or counter work of its own for the core.
    """

    prompts: list[Prompt]
    max_new_tokens: int
    fixed_output_length: bool
    index: int
    phase: Literal["warmup", "measure", "prefill"]
    seed: int


class RequestOutput(msgspec.Struct, kw_only=True):
    """What one prompt produced. Times are seconds, relative to the start of the batch's `generate` call."""

    input_tokens: int
    output_tokens: int
    ttft_s: float | None = None
    e2e_s: float | None = None
    itl_s: Annotated[
        list[float] | None,
        Meta(description="Observed gaps between token arrivals (s), one per arrival after the first token."),
    ] = None
    itl_tokens: Annotated[
        list[int] | None,
        Meta(
            description="Tokens that arrived at each gap of itl_s, when some arrivals carried several "
            "(streamed chunks, speculative decoding); None: one token per gap. Never pad itl_s with zeros."
        ),
    ] = None
    cached_input_tokens: int | None = None


class BatchOutput(msgspec.Struct, kw_only=True):
    """What one `generate` call produced."""

    requests: list[RequestOutput]
    timing_source: Annotated[
        str, Meta(description="How per-request times were obtained, e.g. 'streamer', 'vllm_request_metrics'.")
    ]
    notes: list[str] = msgspec.field(default_factory=list)
    output_token_ids: list[list[int]] | None = None


class Capabilities(msgspec.Struct, kw_only=True, frozen=True):
    """What a backend supports; feeds the capability matrix and the pruning of study sweeps."""

    precisions: tuple[str, ...]
    decoding_strategies: tuple[str, ...]
    decoder_params: tuple[str, ...]
    quantization: tuple[str, ...] = ()
    torch_compile: bool = False
    cuda_graphs: bool = False
    beam_search: bool = False
    speculative_decoding: bool = False
    static_kv_cache: bool = False
    prefix_caching: bool = False
    continuous_batching: bool = False
    multi_gpu: tuple[str, ...] = ()
    runs_on_cpu: bool = False
    ahead_of_time_build: bool = False
    per_token_timestamps: bool = False
    # Modules the backend imports to run (never imported to check: importlib.util.find_spec). Missing ones make
    # the backend "schema only": its config validates, nothing can run (`llem backends list` says which).
    runtime_modules: tuple[str, ...] = ()


class GpuInfo(msgspec.Struct, kw_only=True, frozen=True):
    """One visible GPU as NVML reports it."""

    index: int
    name: str
    compute_capability: tuple[int, int] | None
    memory_total_mib: int | None = None
    uuid: str | None = None

    @property
    def cc(self) -> float | None:
        if self.compute_capability is None:
            return None
        major, minor = self.compute_capability
        return major + minor / 10


class DeviceInfo(msgspec.Struct, kw_only=True, frozen=True):
    """The machine as validation sees it: which GPUs exist. An empty tuple means CPU only."""

    gpus: tuple[GpuInfo, ...] = ()

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def min_cc(self) -> float | None:
        ccs = [g.cc for g in self.gpus if g.cc is not None]
        return min(ccs) if ccs else None
