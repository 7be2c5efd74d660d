"""Load a model and its tokenizer onto the device, then compile it when asked (outside the
measured window)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llem.kit.models import model_path
from llem.kit.unvalidated import unvalidated_keys

from llem_pytorch import _kwargs
from llem_pytorch._config import PyTorchConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase

    from llem_pytorch._parallel import WorkerPool
    from llem_pytorch._steps import StepClock


@dataclass
class PyTorchHandle:
    """What `llem_load` returns: a loaded model in this process, or a pool of data-parallel workers."""

    model: Any = None
    tokenizer: Any = None
    device: Any = None  # torch.device the inputs go to
    pad_token_id: int | None = None
    eos_token_ids: frozenset[int] = frozenset()
    clock: StepClock | None = None
    compiled: bool = False
    # torch_compile with a static cache on a GPU: transformers' generate compiles the decode step itself with
    # this CompileConfig (wrapping the model too would compile a compiled call and fall back to eager speed).
    compile_config: Any = None
    # whether generate is expected to compile the decode step (static cache on a GPU), checked
    # once after a call
    auto_compile_expected: bool = False
    compile_requested: bool = False  # torch_compile asked for, carried out by generate's own compilation
    auto_compile_checked: bool = False
    pool: WorkerPool | None = None
    # Notes for the result (compile fallback, padding token, ...), repeated in every BatchOutput: the core
    # keeps only the measured batches' notes and drops duplicates.
    notes: list[str] = field(default_factory=list)


def has_accelerate() -> bool:
    return importlib.util.find_spec("accelerate") is not None


def load(config: ExperimentBase, *, device_override: str | None = None) -> PyTorchHandle:
    """Load weights and tokenizer as the config says; `device_override` pins a data-parallel
    worker's device."""
    _persistent_compile_cache()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llem_pytorch._steps import StepClock

    pt = config.section(PyTorchConfig)
    has_cuda = torch.cuda.is_available()
    accel = has_accelerate()
    path = model_path(config)
    handle = PyTorchHandle()

    tokenizer = AutoTokenizer.from_pretrained(path, **_kwargs.tokenizer_kwargs(config))
    tokenizer.padding_side = "left"  # decoder-only models continue from the last position: pad on the left
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
        handle.notes.append("tokenizer has no pad token: padding with the end-of-sequence token")

    kwargs = _kwargs.model_kwargs(
        config, has_cuda=has_cuda, has_accelerate=accel, device_override=device_override
    )
    _, move_to = _kwargs.placement(
        pt, has_cuda=has_cuda, has_accelerate=accel, device_override=device_override
    )
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if move_to is not None:
        # transformers wraps PreTrainedModel.to with functools.wraps, which types `self` as its first argument
        model = model.to(move_to)  # type: ignore[arg-type]
    model.eval()

    handle.model = model
    handle.tokenizer = tokenizer
    handle.device = model.get_input_embeddings().weight.device
    handle.pad_token_id = tokenizer.pad_token_id
    handle.eos_token_ids = _eos_ids(model, tokenizer)
    handle.clock = StepClock(handle.device, capacity=config.max_output_tokens + 8)
    static_on_gpu = handle.device.type == "cuda" and pt.cache_implementation in STATIC_CACHES
    handle.auto_compile_expected = static_on_gpu and pt.torch_compile is not False
    if pt.torch_compile and static_on_gpu:
        settings = _kwargs.compile_kwargs(pt)
        handle.compile_requested = True
        if (
            settings
        ):  # transformers' own default CompileConfig otherwise: the same path as a static cache alone
            from transformers import CompileConfig

            handle.compile_config = CompileConfig(**settings)
        handle.notes.append(
            "torch_compile with a static cache on a GPU: transformers' generate compiles the decode step "
            f"(CompileConfig {settings or 'defaults: mode reduce-overhead'}); the model is not wrapped "
            "again, prefill runs uncompiled"
        )
    elif pt.torch_compile:
        _compile(handle, pt)
    unvalidated = unvalidated_keys(config)
    if unvalidated:
        handle.notes.append(f"reached model.generate unvalidated: {', '.join(unvalidated)}")
    return handle


# cache_implementation values whose cache transformers compiles the decode step for (on a GPU)
STATIC_CACHES = frozenset({"static", "offloaded_static", "sliding_window", "hybrid", "hybrid_chunked"})


def check_auto_compile(handle: PyTorchHandle) -> None:
    """After the first generate call: say whether transformers compiled the decode step, as it was
    expected to."""
    if not handle.auto_compile_expected or handle.auto_compile_checked:
        return
    handle.auto_compile_checked = True
    if getattr(handle.model, "_compiled_call", None) is not None:
        if not handle.compile_requested:
            handle.notes.append(
                "static cache on a GPU: transformers' generate compiled the decode step itself "
                "(torch.compile, its default CompileConfig: mode reduce-overhead, CUDA graphs); pass "
                "disable_compile: true in passthrough_kwargs to run it eagerly"
            )
    else:
        handle.notes.append(
            "static cache on a GPU, but transformers' generate did not compile the decode step (its criteria "
            "were not met, e.g. a quantised or offloaded model, or disable_compile): it ran eagerly"
        )


def _persistent_compile_cache() -> None:
    """Keep inductor's compiled artefacts (FX graph and autotuning caches) beside llem's other caches.

    Every experiment of a study runs in a fresh process; with a cache that outlives /tmp clean-ups and is
    shared by all of them, each one after the first re-uses the compiled decode step instead of compiling it
    again. A TORCHINDUCTOR_CACHE_DIR the user set wins.
    """
    import os

    from llem.models.build import cache_root

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "inductor"))


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return frozenset()
    return frozenset([eos] if isinstance(eos, int) else eos)


def _compile(handle: PyTorchHandle, pt: Any) -> None:
    """Compile the forward in place and run it once, so a failing compiler shows here rather than mid-run.

    `model.compile()` (not `torch.compile(model)`) matters: generate calls the model's own `__call__`, which
    an OptimizedModule wrapper would bypass. On failure the model runs uncompiled and the result says why.
    """
    import torch

    model = handle.model
    try:
        model.compile(**_kwargs.compile_kwargs(pt))
        probe = torch.tensor([[handle.pad_token_id or 0, 1]], device=handle.device)
        with torch.inference_mode():
            model(input_ids=probe)
        handle.compiled = True
    except Exception as exc:
        uncompile(handle, exc)


def uncompile(handle: PyTorchHandle, exc: BaseException) -> None:
    """Fall back to the eager model after a compile failure and record it (never silent)."""
    handle.model._compiled_call_impl = None
    handle.compiled = False
    reason = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
    handle.notes.append(f"torch_compile failed, ran uncompiled: {reason}")


def is_compile_error(exc: BaseException) -> bool:
    """Whether an exception came from torch.compile (dynamo/inductor) rather than from the model itself."""
    module = type(exc).__module__ or ""
    return (
        module.startswith(("torch._dynamo", "torch._inductor"))
        or "BackendCompilerFailed" in type(exc).__name__
    )
