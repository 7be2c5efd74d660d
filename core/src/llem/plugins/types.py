"""Data passed across the plugin boundary: prompts in, token counts and timings out, capabilities, devices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import msgspec
from msgspec import Meta


class Prompt(msgspec.Struct, kw_only=True, frozen=True):
    """One prompt: token ids (synthetic prompts) or text (file/dataset prompts); exactly one is set."""

    token_ids: list[int] | None = None
    text: str | None = None


class ServingWindow(msgspec.Struct, kw_only=True, frozen=True):
    """The measured window of a serving run, opened and closed by the backend that drives the load.

    Call `open()` once when warm-up load has brought the server to steady state and `close()` once when the
    window's last request has been sent (before the cool-down and the drain). The core reads the energy
    counter and its clock there; each call may block for up to one counter period (~0.1 s), so an
    asynchronous client calls them from a thread (`await asyncio.to_thread(window.open)`), never on its event
    loop.
    """

    open: Callable[[], None]
    close: Callable[[], None]
    t0_s: Annotated[
        float,
        Meta(
            description="time.perf_counter() when the core called generate: report each request's arrival_s "
            "as perf_counter() - t0_s, on the core's own clock, so window edges and requests share one axis."
        ),
    ] = 0.0


class Batch(msgspec.Struct, kw_only=True):
    """Prompts the backend runs together in one `generate` call.

    `phase`: "warmup" before the window, "measure" inside it, "prefill" for the prefill-only passes after it
    (`max_new_tokens` 1; the core measures their energy as the prefill energy). The core owns the clock and
    the energy counter: a backend does no synchronisation or counter work of its own for the core.
    """

    prompts: list[Prompt]
    max_new_tokens: int
    fixed_output_length: bool
    index: int
    phase: Literal["warmup", "measure", "prefill"]
    seed: int
    window: Annotated[
        ServingWindow | None,
        Meta(
            description="Serving runs only (config.load set): the backend drives the measured window itself; "
            "the batch then holds every measured prompt, to be cycled through by the arrivals."
        ),
    ] = None
    warmup_prompts: Annotated[
        list[Prompt], Meta(description="Serving runs only: prompts for the warm-up and cool-down arrivals.")
    ] = msgspec.field(default_factory=list)


class RequestOutput(msgspec.Struct, kw_only=True):
    """What one prompt produced. Times are seconds, relative to the start of the batch's `generate` call.

    In a serving run `ttft_s` and `e2e_s` are relative to the request's own `arrival_s` (when it was sent).
    """

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
    arrival_s: Annotated[
        float | None,
        Meta(description="Serving runs: when the request was sent, time.perf_counter() - batch.window.t0_s."),
    ] = None
    error: Annotated[
        str | None, Meta(description="Serving runs: why the request failed (None when it succeeded).")
    ] = None


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
    # Modules the backend imports to run (never imported to check: importlib.util.find_spec). Missing ones
    # make the backend "schema only": its config validates, nothing can run (`llem backends list` says which).
    runtime_modules: tuple[str, ...] = ()
    serving: bool = False  # accepts a `load:` section: generate drives arrivals and the window
    batch_size_field: str | None = "batch_size"
    """The section field that sets prompts per `generate` call (None: the backend has none)."""
    engine_packages: tuple[str, ...] = ()
    """Distributions whose versions change this backend's numbers (e.g. "torch"); their installed versions go
    into result.json `packages`, beside llem-core's and the backend's own distribution."""


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
