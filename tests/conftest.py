"""Shared test helpers: installing throwaway plugin distributions through importlib.metadata."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from plugin_dists import TOY_PLUGIN, count_plugin, make_plugin_dist


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A site folder on sys.path and PYTHONPATH (for subprocess CLIs) to install test plugin dists into."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    )
    yield site
    for name, module in list(sys.modules.items()):  # plugins from this site must not leak into the next test
        if str(getattr(module, "__file__", None) or "").startswith(str(site)):
            del sys.modules[name]


@pytest.fixture
def toy_site(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The toy backend installed, and the official backends disabled so core tests see one known backend."""
    make_plugin_dist(plugin_site, "llem-toy", {"llem_toy": TOY_PLUGIN}, {"toy": "llem_toy"})
    monkeypatch.setenv("LLEM_DISABLE_PLUGINS", "pytorch,vllm,tensorrt,server")
    return plugin_site


@pytest.fixture
def count_site(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working `count` backend installed (plugin_dists.COUNT_PLUGIN), the official backends disabled."""
    make_plugin_dist(plugin_site, "llem-count", {"llem_count": count_plugin()}, {"count": "llem_count"})
    monkeypatch.setenv("LLEM_DISABLE_PLUGINS", "pytorch,vllm,tensorrt,server")
    return plugin_site
