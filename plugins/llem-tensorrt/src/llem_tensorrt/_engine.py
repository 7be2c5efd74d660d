"""Engine build (cached per build-settings hash), load, generate and unload against the TensorRT-LLM LLM API.

Nothing here imports tensorrt_llm at module import: `llem backends list` imports the plugin module.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from llem.kit.models import model_path
from llem.kit.timing import times_from_arrivals
from llem.plugins.types import Batch, BatchOutput

from llem_tensorrt import _materialise
from llem_tensorrt._translate import describe, engine_key, runtime_llm_kwargs, sampling_kwargs, section

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase

MARKER = "llem-engine.json"


class EngineArtifact(msgspec.Struct, kw_only=True, frozen=True):
    """A compiled TensorRT engine folder in the cache."""

    path: str
    key: str
    reused: bool


def library_version() -> str:
    import tensorrt_llm

    return str(getattr(tensorrt_llm, "__version__", "unknown"))


def build_engine(config: ExperimentBase, cache_dir: Path) -> EngineArtifact | None:
    """Compile the engine once per build-settings hash into `cache_dir/<hash>`; reuse it when present.

    The build writes into a temporary sibling folder renamed into place at the end, so an interrupted build
    never leaves a folder that looks complete. The PyTorch runtime compiles nothing: None.
    """
    if section(config).backend != "trt":
        return None
    version = library_version()
    key = engine_key(config, version)
    cache_dir = Path(cache_dir)
    target = cache_dir / key
    if (target / MARKER).is_file():
        return EngineArtifact(path=str(target), key=key, reused=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    try:
        desc = describe(config)
        llm = _materialise.llm_class("trt")(model=model_path(config), **_materialise.llm_kwargs(desc))
        try:
            llm.save(str(tmp))
        finally:
            llm.shutdown()
        marker = {"key": key, "model": config.model, "tensorrt_llm": version, "description": desc}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True, default=str))
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished the same engine first: keep theirs
            if not (target / MARKER).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return EngineArtifact(path=str(target), key=key, reused=False)


@dataclass
class Handle:
    """A loaded LLM plus the event loop its streaming generate calls run on."""

    llm: Any
    backend: str
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)


def load(config: ExperimentBase, engine: EngineArtifact | None) -> Handle:
    desc = describe(config)
    backend = desc["backend"]
    cls = _materialise.llm_class(backend)
    if backend == "trt":
        if engine is None:
            raise RuntimeError("tensorrt backend trt: load called without a built engine")
        # An engine folder carries its build settings; only runtime arguments apply now. The tokenizer comes
        # from the checkpoint (the engine folder holds the engine and its config.json).
        kwargs = _materialise.llm_kwargs(runtime_llm_kwargs(desc))
        llm = cls(model=engine.path, tokenizer=model_path(config), **kwargs)
    else:
        llm = cls(model=model_path(config), **_materialise.llm_kwargs(desc))
    return Handle(llm=llm, backend=backend)


@dataclass
class _Track:
    n: int = 0
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (s since the batch started, new tokens)
    input_tokens: int = 0
    token_ids: list[int] = field(default_factory=list)


def generate(handle: Handle, batch: Batch, config: ExperimentBase) -> BatchOutput:
    """All prompts of the batch go in at once (in-flight batching schedules them); each request is streamed so
    its first-token time and token arrival gaps are seen on the host as they happen."""
    params = _materialise.sampling_params(sampling_kwargs(config, batch.max_new_tokens, batch.seed))
    inputs = [
        {"prompt_token_ids": list(p.token_ids)} if p.token_ids is not None else p.text for p in batch.prompts
    ]
    tracks = [_Track() for _ in inputs]
    t0 = time.perf_counter()

    async def consume(i: int, prompt: Any) -> None:
        track = tracks[i]
        async for out in handle.llm.generate_async(prompt, sampling_params=params, streaming=True):
            now = time.perf_counter() - t0
            ids = list(out.outputs[0].token_ids)
            new = len(ids) - track.n
            if new <= 0:
                continue
            if not track.arrivals:
                track.input_tokens = len(out.prompt_token_ids or [])
            # One observed gap per arrival; a chunk (speculative decoding, stream_interval > 1) carries
            # several tokens with nothing seen between them: the kit records its size, never zero gaps.
            track.arrivals.append((now, new))
            track.n = len(ids)
            track.token_ids = ids

    async def run_all() -> None:
        await asyncio.gather(*(consume(i, p) for i, p in enumerate(inputs)))

    handle.loop.run_until_complete(run_all())
    requests = [
        times_from_arrivals(t.arrivals).output(t.input_tokens or len(batch.prompts[i].token_ids or []), t.n)
        for i, t in enumerate(tracks)
    ]
    return BatchOutput(
        requests=requests,
        timing_source="tensorrt_llm_generate_async_streaming",
        output_token_ids=[t.token_ids for t in tracks],
    )


def unload(handle: Handle) -> None:
    try:
        handle.llm.shutdown()
    finally:
        handle.loop.close()
