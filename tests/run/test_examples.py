"""Every example config validates against the installed backends (examples for missing ones are skipped).

Study files (study-*.yaml) are expanded as `llem study plan` does: every point resolves or is pruned with a reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from llem.config.resolve import load_experiment
from llem.plugins.types import DeviceInfo

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates(path, llem_plugins):
    if path.name.startswith("study-"):
        from llem.study.config import load_study_config
        from llem.study.expand import expand_study

        study, base, _folder = load_study_config(path)
        if base.get("backend") not in llem_plugins.backends:
            pytest.skip(f"backend {base.get('backend')!r} is not installed here")
        # as a CPU machine sees it: GPU-only points are pruned, everything else must resolve
        expansion = expand_study(study, base, plugins=llem_plugins, device=DeviceInfo())
        assert expansion.points, "every point of the example study was pruned"
        assert all(p.reason for p in expansion.pruned)
        return
    backend = yaml.safe_load(path.read_text())["backend"]
    if backend not in llem_plugins.backends:
        pytest.skip(f"backend {backend!r} is not installed here")
    config = load_experiment(path, plugins=llem_plugins)
    assert config.backend == backend
