"""`llem --help` and `llem backends list` must not import heavy libraries (with every installed
plugin loaded)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "vllm", "tensorrt_llm", "transformers")


@pytest.mark.parametrize(
    "args", [["--help"], ["backends", "list"], ["backends", "list", "--json"], ["--version"]]
)
def test_fast_commands_import_no_heavy_library(args):
    probe = (
        "import sys\n"
        "from llem.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print('HEAVY:', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert "HEAVY: []" in proc.stderr, proc.stderr[-2000:]


def test_models_json_lists_the_bundled_architectures(llem_cli):
    import json

    res = llem_cli("models", "--json")
    assert res.exit_code == 0, res.output
    rows = {r["model"]: r for r in json.loads(res.stdout)}
    assert "random:tiny-llama" in rows and rows["random:llama-3.2-1b"]["n_params"] > 1_000_000_000
