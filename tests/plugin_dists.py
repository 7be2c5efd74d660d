"""Throwaway plugin distributions for tests: installed through importlib.metadata like a real pip install."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_plugin_dist(site: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Create an installed-looking distribution in `site` (a folder put on PYTHONPATH): its modules, and a
    dist-info folder whose entry_points.txt registers `entry_points` (name -> "module") in `llem.backends`.
    This is how a real `pip install` exposes a plugin to importlib.metadata, minus the copying."""
    site.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[llem.backends]\n{eps}\n")


TOY_PLUGIN = '''
from typing import Annotated
from msgspec import Meta
from llem.config import Section
from llem.config.base import gpu
from llem.config.rules import exclusive, requires
from llem.plugins import Capabilities, hookimpl


class ToyConfig(Section):
    """A test-only backend section."""

    __rules__ = (
        exclusive("fast", "careful", reason="they pull in opposite directions"),
        requires(("mode",), "fast", True, reason="mode only exists in fast mode"),
    )
    batch_size: Annotated[Annotated[int, Meta(ge=1)] | None, Meta(description="Prompts per batch.")] = None
    fast: Annotated[bool | None, Meta(description="Go fast.")] = None
    careful: Annotated[bool | None, Meta(description="Go carefully.")] = None
    mode: Annotated[str | None, Meta(description="Fast mode variant.", examples=["a", "b"])] = None
    kernel: Annotated[
        str | None,
        Meta(description="Kernel choice.", extra=gpu(values={"hopper": 9.0, "ampere": 8.0})),
    ] = None


@hookimpl
def llem_register_backends(register):
    register.add_backend("toy", config=ToyConfig, description="Test-only toy backend.")


@hookimpl
def llem_load(config, engine):
    return {"model": config.model}


@hookimpl
def llem_generate(handle, batch, config):
    return None


@hookimpl
def llem_capabilities():
    return Capabilities(
        precisions=("fp32", "fp16", "bf16"),
        decoding_strategies=("greedy", "sampling"),
        decoder_params=("temperature",),
    )
'''


# A test-only backend whose experiments wait at a gate the test controls (no real sleep decides anything):
# `gate.path` (a file) must exist before `load` returns; `gate.fail: true` makes the experiment raise.
# $LLEM_GATE_STARTED, if set, names a file each load appends "pid host" to.
GATE_PLUGIN = '''
import os
import socket
import time
from typing import Annotated

from msgspec import Meta
from llem.config import Section
from llem.plugins import BatchOutput, Capabilities, RequestOutput, hookimpl


class GateConfig(Section):
    """Test-only backend: waits for a file, then returns fixed token counts."""

    batch_size: Annotated[Annotated[int, Meta(ge=1)] | None, Meta(description="Prompts per batch.")] = None
    path: Annotated[str | None, Meta(description="File that must exist before the model 'loads'.")] = None
    fail: Annotated[bool | None, Meta(description="Raise in generate.")] = None


@hookimpl
def llem_register_backends(register):
    register.add_backend("gate", config=GateConfig, description="Test-only gated backend.")


@hookimpl
def llem_load(config, engine):
    marker = os.environ.get("LLEM_GATE_STARTED")
    if marker:
        with open(marker, "a") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\\n")
    path = config.gate.path
    while path and not os.path.exists(path):
        time.sleep(0.05)
    return {"model": config.model}


@hookimpl
def llem_generate(handle, batch, config):
    if config.gate.fail:
        raise RuntimeError("gate backend told to fail")
    n = batch.max_new_tokens
    # possible times (the core checks them): first token at 1 ms, then 10 us per token
    return BatchOutput(
        requests=[
            RequestOutput(
                input_tokens=len(p.token_ids or []),
                output_tokens=n,
                ttft_s=0.001,
                e2e_s=0.001 + 1e-5 * (n - 1),
                itl_s=[1e-5] * (n - 1),
            )
            for p in batch.prompts
        ],
        timing_source="gate",
    )


@hookimpl
def llem_capabilities():
    return Capabilities(
        precisions=("fp32", "fp16", "bf16"),
        decoding_strategies=("greedy", "sampling"),
        decoder_params=("temperature", "do_sample", "top_k", "top_p", "repetition_penalty"),
        runs_on_cpu=True,
    )
'''


# A backend that "generates" without a model: exactly max_new_tokens per prompt, with times that are fractions
# of the real (tiny) duration of its generate call, so they are consistent without sleeping. Tests derive
# misbehaving variants by replacing the constants below.
COUNT_PLUGIN = '''
import time
from typing import Annotated
from msgspec import Meta
from llem.config import Section
from llem.plugins import BatchOutput, Capabilities, RequestOutput, hookimpl

OUT_FACTOR = 1
TTFT_FRACTION = 0.25
PRECISIONS = ("fp32", "fp16", "bf16")
DECODER_PARAMS = ("temperature", "do_sample", "top_k", "top_p", "repetition_penalty")


class CountConfig(Section):
    """A test-only backend section."""

    batch_size: Annotated[Annotated[int, Meta(ge=1)] | None, Meta(description="Prompts per batch.")] = None


@hookimpl
def llem_register_backends(register):
    register.add_backend("count", config=CountConfig, description="Test-only counting backend.")


@hookimpl
def llem_validate(config, device):
    return []


@hookimpl
def llem_load(config, engine):
    return {"model": config.model}


@hookimpl
def llem_generate(handle, batch, config):
    t0 = time.perf_counter()
    n_out = batch.max_new_tokens * OUT_FACTOR
    inputs = [len(p.token_ids or []) for p in batch.prompts]
    e2e = time.perf_counter() - t0
    ttft = e2e * TTFT_FRACTION
    itl = [(e2e - ttft) / max(n_out - 1, 1)] * (n_out - 1)
    requests = [
        RequestOutput(input_tokens=n_in, output_tokens=n_out, ttft_s=ttft, e2e_s=e2e, itl_s=list(itl))
        for n_in in inputs
    ]
    return BatchOutput(requests=requests, timing_source="count")


@hookimpl
def llem_unload(handle):
    return None


@hookimpl
def llem_capabilities():
    return Capabilities(
        precisions=PRECISIONS,
        decoding_strategies=("greedy", "sampling"),
        decoder_params=DECODER_PARAMS,
        runs_on_cpu=True,
    )
'''


def count_plugin(**replace: str) -> str:
    """COUNT_PLUGIN with source fragments replaced (old -> new), each of which must occur."""
    source = COUNT_PLUGIN
    for old, new in replace.items():
        assert old in source, old
        source = source.replace(old, new)
    return source
