"""The worked third-party example is installable and passes its own llem.testing suite.

It is installed with pip into a throwaway folder (not the development environment, whose generated config
reference must list only the official backends), then its tests run in a subprocess as its author would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "third-party-backend"


def test_example_installs_and_passes_its_contract_tests(tmp_path):
    # a copy: building writes build/ and *.egg-info next to the sources
    example = shutil.copytree(
        EXAMPLE, tmp_path / "example", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(example)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    assert (site / "llem_tinyengine" / "plugin.py").is_file()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p),
    }
    env["LLEM_CACHE_DIR"] = str(tmp_path / "cache")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(example),
         "-c", str(example / "pyproject.toml"), str(example / "tests")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert "5 passed" in tests.stdout
