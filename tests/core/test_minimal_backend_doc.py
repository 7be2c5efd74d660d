"""The complete minimal backend printed in docs/writing-a-backend.md really is one: installed as a
distribution, it passes llem.testing's contract (a real tiny run through the core)."""

from __future__ import annotations

import re
from pathlib import Path

from llem.testing import assert_backend_contract
from plugin_dists import make_plugin_dist

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-backend.md"


def test_the_documented_minimal_backend_passes_the_contract(plugin_site, monkeypatch):
    text = DOC.read_text()
    section = text[text.index("### A complete minimal backend") :]
    source = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    make_plugin_dist(plugin_site, "llem-mini", {"llem_mini": source}, {"mini": "llem_mini"})
    tiny = {
        "model": "random:tiny-llama",
        "n_prompts": 2,
        "max_output_tokens": 3,
        "decoder": {"do_sample": False},
    }
    result = assert_backend_contract("mini", tiny)
    assert result.metrics.output_tokens == 6 and result.packages["llem-mini"] == "0.1.0"
