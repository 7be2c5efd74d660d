"""Starting a `vllm.LLM` for an experiment, and shutting it down without leaving processes or memory behind.

vLLM runs its engine core (and, with several ranks, its workers) in child processes. On CPU, and wherever CUDA
is already initialised, it starts them with multiprocessing's `spawn`, which re-imports the parent's
`__main__` module in each child: a user script without an `if __name__ == "__main__":` guard would start a
second experiment inside the child and fail with "An attempt has been made to start a new process before the
current process has finished its bootstrapping phase". `_main_hidden` lets the children start without
importing the user's script (they need nothing from it: vLLM's process targets live in vllm), so users never
meet that rule.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llem.config.prompts import SyntheticPrompts
from llem.kit.models import model_path
from llem.kit.unvalidated import unvalidated_keys
from llem.models import is_random

from llem_vllm import _kwargs

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase

log = logging.getLogger("llem.vllm")


@dataclass
class VLLMHandle:
    """A running vLLM engine and what llem needs to drive and tear it down."""

    llm: Any
    engine_kwargs: dict[str, Any]
    child_pids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    notes_reported: bool = False


def skips_tokenizer(config: ExperimentBase) -> bool:
    """Whether vLLM can start without a tokenizer: a random-weight model fed synthetic token ids at a fixed
    output length. Otherwise the tokenizer stays: text prompts need it, and so does stopping at
    end-of-sequence (vLLM knows no EOS id without one)."""
    return (
        is_random(config.model)
        and isinstance(config.prompts, SyntheticPrompts)
        and config.fixed_output_length
    )


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Make `spawn` children skip re-importing the parent's `__main__` (see the module docstring)."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the engine's start only, so one experiment's settings never leak into the
    next one in the same process."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _children() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _resource_tracker_pid() -> int | None:
    """multiprocessing's shared resource tracker: it belongs to the interpreter, not to one engine."""
    from multiprocessing import resource_tracker

    return getattr(resource_tracker._resource_tracker, "_pid", None)


def load(config: ExperimentBase) -> VLLMHandle:
    """Start `vllm.LLM` with the experiment's settings."""
    skip = skips_tokenizer(config)
    kwargs = _kwargs.engine_kwargs(config, model_path(config), skip_tokenizer_init=skip)
    before = _children()
    with _environ(_kwargs.engine_env(config)), _main_hidden():
        from vllm import LLM

        llm = LLM(**kwargs)
    tracker = _resource_tracker_pid()
    started = sorted(pid for pid in _children() - before if pid != tracker)
    handle = VLLMHandle(llm=llm, engine_kwargs=kwargs, child_pids=started)
    if _drop_stat_loggers(llm):
        handle.notes.append(
            "vllm: per-request statistics on (TTFT, e2e), its periodic stat loggers off (no Prometheus or "
            "log records per engine step)"
        )
    if skip:
        handle.notes.append("vllm: skip_tokenizer_init (random-weight model, token-id prompts, fixed length)")
    unvalidated = unvalidated_keys(config)
    if unvalidated:
        handle.notes.append(f"vllm: reached vLLM unvalidated: {', '.join(unvalidated)}")
    return handle


def _drop_stat_loggers(llm: Any) -> bool:
    """Keep the per-request statistics llem reads, drop the stat loggers that `disable_log_stats: False` adds.

    LLM() turns statistics off by default; llem needs them on for RequestStateStats. That also starts vLLM's
    stat loggers, which record Prometheus metrics and log lines at every engine step: work a user's
    engine does not do, inside the measured window. llem reads no logger, so it drops them (vLLM checks
    for None itself).
    """
    engine = getattr(llm, "llm_engine", None)
    if engine is None or getattr(engine, "logger_manager", None) is None:
        return False
    engine.logger_manager = None
    return True


def unload(handle: VLLMHandle, *, timeout_s: float = 30.0) -> list[int]:
    """Shut the engine down, release its memory and wait for its processes; returns pids that had
    to be killed."""
    llm, handle.llm = handle.llm, None
    if llm is not None:
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception as exc:  # shutdown is best effort: the process checks below still run
            log.warning("vllm engine shutdown raised %s: %s", type(exc).__name__, exc)
        del llm
    try:
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        # Also clears vLLM's environment cache, which an in-process engine turns on.
        cleanup_dist_env_and_memory()
    except Exception as exc:
        log.warning("vllm cleanup raised %s: %s", type(exc).__name__, exc)
    return _reap(handle.child_pids, timeout_s)


def _reap(pids: list[int], timeout_s: float) -> list[int]:
    """Wait for the engine's child processes (reaping them); kill, by pid, those still alive
    after timeout_s."""
    import psutil

    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    deadline = time.monotonic() + timeout_s
    _, alive = psutil.wait_procs(procs, timeout=max(0.0, deadline - time.monotonic()))
    killed = []
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
            killed.append(p.pid)
    if alive:
        psutil.wait_procs(alive, timeout=5)
        log.warning("vllm: killed engine processes that did not exit: %s", killed)
    return killed
