"""Docs cannot drift: the config reference is generated from the code, every hook is documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from llem.config.reference import render_config_reference
from llem.plugins import hookspecs
from llem.plugins.manager import get_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("llem_"))


def test_config_reference_matches_code():
    plugins = get_plugin_manager()
    if any(s.status != "ok" for s in plugins.statuses.values()):
        pytest.fail(f"a plugin is not ok: {plugins.statuses}")
    expected = render_config_reference(plugins)
    actual = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert actual == expected, (
        "docs/config-reference.md is stale: run `llem config reference -o docs/config-reference.md`"
    )


def test_every_shared_and_backend_parameter_is_in_the_reference():
    from llem.config.introspect import get_backend_params, get_shared_params

    plugins = get_plugin_manager()
    text = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    paths = list(get_shared_params(plugins))
    for name in plugins.backends:
        paths += list(get_backend_params(name, plugins))
    missing = [p for p in paths if f"`{p}`" not in text]
    assert missing == []


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    assert hook in (ROOT / "docs" / "writing-a-backend.md").read_text(encoding="utf-8")
    assert getattr(hookspecs, hook).__doc__, f"{hook} has no docstring"
