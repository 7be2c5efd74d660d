"""The `pytorch:` section of the experiment config: every energy-relevant knob of transformers, validated.

Every field defaults to None, meaning "transformers' own default": a field left None produces no keyword
argument at all (see _kwargs.py). The one exception is trust_remote_code, which defaults to False on purpose:
running code shipped inside a model repository must be a deliberate choice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from llem.config.base import Section, gpu
from llem.config.rules import conflicts, custom, exclusive, requires
from msgspec import Meta

AttnImplementation = Literal["sdpa", "flash_attention_2", "flash_attention_3", "eager"]
CacheImplementation = Literal["static", "offloaded_static", "sliding_window"]
BnbComputeDtype = Literal["float16", "bfloat16", "float32"]
BnbQuantType = Literal["nf4", "fp4"]

_BNB_NOTE = "bitsandbytes kernels run on NVIDIA GPUs; its CPU support is partial and not what llem measures"


def _beam_width(cfg: PyTorchConfig) -> int:
    return cfg.num_beams if cfg.num_beams is not None else 1


class PyTorchConfig(Section):
    """Hugging Face transformers on PyTorch: `from_pretrained` and `generate` settings."""

    __rules__ = (
        exclusive(
            "load_in_4bit",
            "load_in_8bit",
            reason="bitsandbytes quantises weights to one width: 4-bit or 8-bit, not both",
        ),
        requires(
            ("torch_compile_mode", "torch_compile_backend"),
            on="torch_compile",
            value=True,
            reason="compile options only take effect when torch.compile is applied",
        ),
        requires(
            ("bnb_4bit_compute_dtype", "bnb_4bit_quant_type", "bnb_4bit_use_double_quant"),
            on="load_in_4bit",
            value=True,
            reason="the bnb_4bit_* options configure 4-bit quantisation and do nothing without it",
        ),
        conflicts(
            "cache_implementation",
            on="use_cache",
            value=False,
            reason="a cache implementation is a kind of KV cache; use_cache=false turns the KV cache off",
        ),
        custom(
            ("prompt_lookup_num_tokens", "batch_size"),
            lambda o: o.prompt_lookup_num_tokens is not None and (o.batch_size or 1) > 1,
            message="prompt_lookup_num_tokens needs batch_size 1",
            reason="transformers' assisted generation (prompt lookup) raises 'assisted generate is only "
            "supported for batch_size = 1'",
            resolution="set batch_size: 1 (or leave it unset), or remove prompt_lookup_num_tokens",
        ),
        custom(
            ("prompt_lookup_num_tokens", "num_beams"),
            lambda o: o.prompt_lookup_num_tokens is not None and _beam_width(o) > 1,
            message="prompt_lookup_num_tokens cannot be combined with num_beams > 1",
            reason="transformers only assists greedy search and sampling; with beam search it silently "
            "ignores prompt lookup, so the run would not measure what the config says",
            resolution="remove prompt_lookup_num_tokens, or set num_beams: 1",
        ),
        custom(
            ("early_stopping", "length_penalty"),
            lambda o: (o.early_stopping is not None or o.length_penalty is not None) and _beam_width(o) == 1,
            message="early_stopping/length_penalty require num_beams > 1",
            reason="both only act in beam search; without it the run would be identical to one without them",
            resolution="set num_beams: 2 or more, or remove early_stopping/length_penalty",
        ),
    )

    # -- batching and parallelism ----------------------------------------------------------------------------
    batch_size: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="Prompts per generate call, left-padded to the longest (None: 1)."),
    ] = None
    num_processes: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(
            description="Data-parallel worker processes, one GPU each (on CPU: N processes sharing the "
            "cores); each batch's prompts are split across them (None: 1, no workers)."
        ),
    ] = None

    # -- attention and compilation ---------------------------------------------------------------------------
    attn_implementation: Annotated[
        AttnImplementation | None,
        Meta(
            description="Attention kernel: sdpa (PyTorch scaled_dot_product_attention), flash_attention_2 "
            "(flash-attn package, compute capability 8.0+), flash_attention_3 (flash-attn-3, Hopper 9.0+), "
            "eager (plain matmuls) (None: transformers picks, usually sdpa).",
            extra=gpu(
                values={"flash_attention_2": 8.0, "flash_attention_3": 9.0},
                note="flash attention kernels need an NVIDIA GPU and the flash-attn package",
            ),
        ),
    ] = None
    torch_compile: Annotated[
        bool | None,
        Meta(
            description="Compile the model's forward with torch.compile after loading (compiled in place, so "
            "generate uses it); a compile failure continues uncompiled and is noted in the "
            "result (None: off)."
        ),
    ] = None
    torch_compile_mode: Annotated[
        str | None,
        Meta(
            description="torch.compile mode, e.g. default, reduce-overhead (CUDA graphs), max-autotune "
            "(None: 'default'). Needs torch_compile: true.",
            examples=["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
        ),
    ] = None
    torch_compile_backend: Annotated[
        str | None,
        Meta(
            description="torch.compile backend, e.g. inductor, cudagraphs, eager, aot_eager (None: "
            "'inductor'). Needs torch_compile: true.",
            examples=["inductor", "cudagraphs", "eager", "aot_eager"],
        ),
    ] = None

    # -- quantisation (bitsandbytes) -------------------------------------------------------------------------
    load_in_4bit: Annotated[
        bool | None,
        Meta(
            description="Quantise weights to 4 bits with bitsandbytes (passed as a BitsAndBytesConfig) "
            "(None: off). Needs bitsandbytes and an NVIDIA GPU.",
            extra=gpu(needs_cuda=True, note=_BNB_NOTE),
        ),
    ] = None
    load_in_8bit: Annotated[
        bool | None,
        Meta(
            description="Quantise weights to 8 bits with bitsandbytes LLM.int8() (passed as a "
            "BitsAndBytesConfig) (None: off). Needs bitsandbytes and an NVIDIA GPU.",
            extra=gpu(needs_cuda=True, note=_BNB_NOTE),
        ),
    ] = None
    bnb_4bit_compute_dtype: Annotated[
        BnbComputeDtype | None,
        Meta(
            description="dtype of the matmuls on 4-bit weights (None: bitsandbytes' default, float32; "
            "bfloat16 is usually faster). Needs load_in_4bit: true."
        ),
    ] = None
    bnb_4bit_quant_type: Annotated[
        BnbQuantType | None,
        Meta(description="4-bit data type: nf4 (normal float) or fp4 (None: transformers' default, fp4)."),
    ] = None
    bnb_4bit_use_double_quant: Annotated[
        bool | None,
        Meta(
            description="Also quantise the quantisation constants (saves about 0.4 bits per parameter) "
            "(None: off). Needs load_in_4bit: true."
        ),
    ] = None

    # -- KV cache --------------------------------------------------------------------------------------------
    use_cache: Annotated[
        bool | None,
        Meta(
            description="Keep a KV cache during generation; false recomputes every past token (None: true)."
        ),
    ] = None
    cache_implementation: Annotated[
        CacheImplementation | None,
        Meta(
            description="KV cache layout: static (pre-allocated, lets transformers compile the decode step "
            "with CUDA graphs on GPU), offloaded_static (static, offloaded to CPU memory; CUDA only), "
            "sliding_window (deprecated by transformers, still runs) (None: dynamic cache).",
            extra=gpu(needs_cuda=("offloaded_static",)),
        ),
    ] = None

    # -- beam search and repetition --------------------------------------------------------------------------
    num_beams: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="Beam search width; 1 is greedy search or sampling (None: 1)."),
    ] = None
    early_stopping: Annotated[
        bool | Literal["never"] | None,
        Meta(
            description="Beam search stop rule: true stops when num_beams candidates are finished, false "
            "uses a heuristic, never runs the exact search (None: false). Needs num_beams > 1."
        ),
    ] = None
    length_penalty: Annotated[
        float | None,
        Meta(
            description="Beam score exponent on sequence length: > 0 favours longer, < 0 shorter sequences "
            "(None: 1.0). Needs num_beams > 1."
        ),
    ] = None
    no_repeat_ngram_size: Annotated[
        Annotated[int, Meta(ge=0)] | None,
        Meta(
            description="Forbid any n-gram of this size from occurring twice in the output; 0 "
            "is off (None: 0)."
        ),
    ] = None

    # -- speculative decoding --------------------------------------------------------------------------------
    prompt_lookup_num_tokens: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(
            description="Prompt-lookup speculative decoding: draft this many tokens by matching n-grams of "
            "the prompt, verified in one forward pass (None: off). Batch size 1 and num_beams 1 only."
        ),
    ] = None

    # -- loading ---------------------------------------------------------------------------------------------
    device_map: Annotated[
        str | None,
        Meta(
            description="Where weights go, as from_pretrained's device_map: auto, cpu, cuda:0, balanced, "
            "sequential (None: 'auto' on a GPU machine, GPU 0 without accelerate; the CPU otherwise). Any "
            "device_map needs the accelerate package.",
            examples=["auto", "cpu", "cuda:0", "balanced", "sequential"],
        ),
    ] = None
    max_memory: Annotated[
        dict[int | str, int | str] | None,
        Meta(
            description="Memory cap per device for device_map placement, e.g. {0: '10GiB', cpu: '50GiB'} "
            "(None: no cap).",
            examples=[{0: "20GiB", "cpu": "32GiB"}],
        ),
    ] = None
    revision: Annotated[
        str | None,
        Meta(
            description="Model revision on the hub (branch, tag or commit hash): pin a commit for "
            "reproducible results (None: the default branch).",
            examples=["main"],
        ),
    ] = None
    trust_remote_code: Annotated[
        bool,
        Meta(
            description="Run Python code shipped in the model repository (model and tokenizer). Off by "
            "default: turning it on executes that repository's code on this machine."
        ),
    ] = False
