"""Helpers for the TensorRT-LLM backend tests: a real plugin manager and experiment configs built
through the core."""

from __future__ import annotations

from typing import Any

import pytest
from llem.config.resolve import load_experiment
from llem.plugins import LlemPlugins, get_plugin_manager


@pytest.fixture(scope="module")
def trt_plugins() -> LlemPlugins:
    plugins = get_plugin_manager()
    if "tensorrt" not in plugins.backends:
        pytest.fail(f"llem-tensorrt is not installed or broken: {plugins.statuses.get('tensorrt')}")
    return plugins


@pytest.fixture(scope="module")
def make_config(trt_plugins: LlemPlugins):
    """make_config(section_overrides, **top_level) -> a validated ExperimentConfig for backend tensorrt."""

    def _make(section: dict[str, Any] | None = None, **top: Any):
        data = {"model": "random:tiny-llama", "backend": "tensorrt", **top}
        if section:
            data["tensorrt"] = section
        return load_experiment(data, plugins=trt_plugins)

    return _make
