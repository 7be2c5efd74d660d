"""Every example file validates through the real CLI as a user would check it, and says what it claims: each
setting the file writes is the setting the resolved config runs with (nothing silently dropped or renamed).

Study files (study-*.yaml) are validated by `llem config validate` as studies: at least one experiment runs
here, every pruned point has a reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def leaves(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def backend_of(path: Path) -> str | None:
    data = yaml.safe_load(path.read_text())
    return (data.get("base") or {}).get("backend") if "base" in data else data.get("backend")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates_and_runs_what_it_says(path, llem_cli, llem_plugins):
    if backend_of(path) not in llem_plugins.backends:
        pytest.skip(f"backend {backend_of(path)!r} is not installed here")
    checked = llem_cli("config", "validate", str(path), env={"LLEM_FORCE_NO_GPU": "1"}, timeout=120)
    assert checked.exit_code == 0, checked.output
    if path.name.startswith("study-"):
        assert checked.stdout.startswith(f"{path}: ok (study: ") and " 0 experiments" not in checked.stdout
        plan = llem_cli("study", "plan", str(path), "--json", env={"LLEM_FORCE_NO_GPU": "1"}, timeout=120)
        assert plan.exit_code == 0, plan.output
        manifest = json.loads(plan.stdout)
        assert manifest["points"] and all(p["reason"] for p in manifest["pruned"])
        return
    assert checked.stdout == f"{path}: ok\n"
    shown = llem_cli("config", "show", str(path), "--json", timeout=120)
    assert shown.exit_code == 0, shown.output
    resolved = leaves(json.loads(shown.stdout)["config"])
    for key, value in leaves(yaml.safe_load(path.read_text())).items():
        if key == "prompts.path":
            assert Path(resolved[key]) == (path.parent / value).resolve(), key  # made relative to the file
            continue
        assert resolved.get(key, "missing") == value, f"{path.name}: {key} is {value!r} in the file"
