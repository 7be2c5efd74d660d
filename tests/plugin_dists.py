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
