"""Every example config validates against the installed backends (examples for missing ones are skipped)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from llem.config.resolve import load_experiment

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates(path, llem_plugins):
    backend = yaml.safe_load(path.read_text())["backend"]
    if backend not in llem_plugins.backends:
        pytest.skip(f"backend {backend!r} is not installed here")
    config = load_experiment(path, plugins=llem_plugins)
    assert config.backend == backend
