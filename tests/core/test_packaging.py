"""What pip and a package index show: a license file in every distribution, a real long description, and
READMEs whose links work outside the repository (no relative links: on PyPI they would be dead)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [ROOT / "core", *sorted((ROOT / "plugins").iterdir())]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_each_distribution_has_its_license_and_a_real_long_description(package):
    meta = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "Apache-2.0"
    license_text = (package / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0" in license_text
    assert license_text == (ROOT / "LICENSE").read_text()
    readme = (package / meta["readme"]).read_text()
    assert len(readme.split()) >= 100, f"{package.name}: the long description is a stub"
    assert "pip install" in readme and "License: Apache-2.0" in readme


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_readmes_have_no_relative_links(package):
    readme = (package / "README.md").read_text()
    assert re.findall(r"\]\((?!https?://|#)[^)]*\)", readme) == []


def test_docs_cite_nothing_that_is_not_in_the_repository():
    for doc in (ROOT / "docs").rglob("*.md"):
        assert "DESIGN.md" not in doc.read_text(), doc
