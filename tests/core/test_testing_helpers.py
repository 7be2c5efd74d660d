"""llem.testing as a backend author uses it: the contract really loads and generates, the fixtures load only
the backend under test, and installing llem-core changes nobody's pytest run unless asked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from llem.testing import assert_backend_contract, plugins_for
from plugin_dists import TOY_PLUGIN, count_plugin, make_plugin_dist

TINY = {"model": "random:tiny-llama", "n_prompts": 2, "max_output_tokens": 4}


def test_contract_runs_the_backend_and_returns_its_result(count_site):
    result = assert_backend_contract("count", TINY)
    assert result.status == "ok" and result.metrics.output_tokens == 8
    assert result.packages["llem-count"] == "0.1.0"


def test_contract_catches_a_backend_that_lies(count_site):
    make_plugin_dist(
        count_site,
        "llem-count",
        {"llem_count": count_plugin(**{"OUT_FACTOR = 1": "OUT_FACTOR = 10"})},
        {"count": "llem_count"},
    )
    with pytest.raises(AssertionError, match=r"output_tokens 40 > max_new_tokens 4"):
        assert_backend_contract("count", TINY)


def test_declared_engine_packages_are_in_the_contract_result(count_site):
    source = count_plugin(**{"runs_on_cpu=True": "runs_on_cpu=True, engine_packages=('pluggy',)"})
    make_plugin_dist(count_site, "llem-count", {"llem_count": source}, {"count": "llem_count"})
    assert assert_backend_contract("count", TINY).packages["pluggy"]


def test_plugins_for_loads_only_the_backend_under_test(count_site):
    make_plugin_dist(count_site, "llem-toy", {"llem_toy": TOY_PLUGIN}, {"toy": "llem_toy"})
    make_plugin_dist(count_site, "llem-boom", {"llem_boom": "raise SystemExit(1)\n"}, {"boom": "llem_boom"})
    assert set(plugins_for("count").statuses) == {"count"}


def _pytest(folder: Path, ini: str, test: str) -> subprocess.CompletedProcess[str]:
    (folder / "pytest.ini").write_text(textwrap.dedent(ini))
    (folder / "test_it.py").write_text(textwrap.dedent(test))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_fixtures_exist_only_when_asked_and_load_only_the_named_backend(count_site, tmp_path):
    make_plugin_dist(count_site, "llem-toy", {"llem_toy": TOY_PLUGIN}, {"toy": "llem_toy"})
    uses_fixture = """
        def test_it(llem_plugins):
            assert sorted(llem_plugins.statuses) == ["count"]
    """
    plain = tmp_path / "plain"
    plain.mkdir()
    untouched = _pytest(plain, "[pytest]\n", uses_fixture)
    assert untouched.returncode != 0 and "fixture 'llem_plugins' not found" in untouched.stdout
    asked = tmp_path / "asked"
    asked.mkdir()
    result = _pytest(asked, "[pytest]\nllem_fixtures = true\nllem_backend = count\n", uses_fixture)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
