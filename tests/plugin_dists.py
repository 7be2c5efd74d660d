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
    return Capabilities(precisions=("fp32",), decoding_strategies=("greedy",), decoder_params=("temperature",))
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
    return BatchOutput(
        requests=[
            RequestOutput(
                input_tokens=4, output_tokens=n, ttft_s=0.001, e2e_s=0.002, itl_s=[0.0001] * (n - 1)
            )
            for _ in batch.prompts
        ],
        timing_source="gate",
    )


@hookimpl
def llem_capabilities():
    return Capabilities(
        precisions=("fp32",), decoding_strategies=("greedy",), decoder_params=(), runs_on_cpu=True
    )
'''
