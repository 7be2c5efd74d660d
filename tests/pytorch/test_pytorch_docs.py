"""docs/backends/pytorch.md cannot drift from PyTorchConfig: every field, its description and every
rule appear."""

from __future__ import annotations

from pathlib import Path

from llem.config.introspect import get_backend_params
from llem_pytorch import PyTorchConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "backends" / "pytorch.md"


def test_every_field_and_description_is_documented(llem_plugins):
    text = DOC.read_text(encoding="utf-8")
    params = get_backend_params("pytorch", llem_plugins)
    assert len(params) == len(PyTorchConfig.__struct_fields__)
    for path, info in params.items():
        assert f"`{path}`" in text, f"{path} missing from {DOC.name}"
        assert info.description.replace("|", "\\|") in text, f"{path}: description in {DOC.name} is stale"


def test_every_rule_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for rule in PyTorchConfig.__rules__:
        assert f"- {rule.message}: {rule.reason}" in text, f"rule {rule.message!r} missing or stale"
