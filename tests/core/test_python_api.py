"""The Python API a user scripts against: `llem.run`, `llem.load_config`, `llem.measure`, `llem.study.plan`,
`llem.results.load` — through the public names only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
STUDY = ROOT / "examples" / "study-batch-decoder.yaml"


def python(code: str, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_llem_loads_nothing_heavy():
    loaded = json.loads(python("import json, sys, llem; print(json.dumps(sorted(sys.modules)))"))
    assert [m for m in loaded if m.startswith("llem.")] == ["llem.version"]  # a leaf: the version string only
    assert not {"torch", "vllm", "pandas", "transformers", "msgspec"} & set(loaded)


def test_package_names_stay_callable_after_their_submodules_are_imported():
    out = python(
        "import llem, llem.study.planning, llem.run.lifecycle, llem.measure.energy\n"
        "print(callable(llem.study.plan), callable(llem.study.run),"
        " callable(llem.run), callable(llem.measure))\n"
        "print(llem.study.plan.__module__, llem.run.run_experiment.__name__)"
    )
    assert out.splitlines() == ["True True True True", "llem.study.api run_experiment"]


def test_load_config_validates_and_names_the_field():
    import llem
    from llem.errors import ConfigError

    pytest.importorskip("llem_pytorch")
    config = llem.load_config(QUICKSTART, overrides=["pytorch.batch_size=2"])
    assert config.backend == "pytorch" and config.section().batch_size == 2 and config.n_prompts == 32
    with pytest.raises(ConfigError, match=r"\$\.n_prompts: Expected int >= 1"):
        llem.load_config(QUICKSTART, overrides=["n_prompts=0"])


def test_measure_says_why_when_the_gpus_asked_for_cannot_be_measured(monkeypatch):
    import llem

    monkeypatch.setenv("LLEM_FORCE_NO_GPU", "1")
    with llem.measure(gpus=[0]) as m:
        sum(range(10_000))
    assert m.energy_j is None and m.bound_j is None  # never a zero
    assert m.reason == "no NVIDIA GPU" and m.meter == "none"
    assert m.duration_s is not None and m.duration_s >= 0
    assert "energy_j=None" in repr(m) and "no NVIDIA GPU" in repr(m)


def test_measure_without_arguments_measures_or_says_why(monkeypatch):
    import llem

    monkeypatch.setenv("LLEM_FORCE_NO_GPU", "1")
    t0 = time.perf_counter()
    with llem.measure() as m:
        sum(range(100_000))
    wall = time.perf_counter() - t0
    if m.meter == "rapl":  # a machine with readable RAPL measures the CPU package: real, positive, bounded
        assert m.energy_j > 0 and m.bound_j is not None and m.reason is None
    else:
        assert m.energy_j is None and m.reason and "no NVIDIA GPU" in m.reason
        assert 0 <= m.duration_s <= wall


@pytest.mark.slow
def test_run_from_python_writes_the_same_result_the_cli_would(tmp_path, monkeypatch):
    import llem

    pytest.importorskip("llem_pytorch")
    monkeypatch.setenv("LLEM_FORCE_NO_GPU", "1")
    monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path / "cache"))
    result = llem.run(
        QUICKSTART, overrides=["n_prompts=4", "max_output_tokens=4"], output_dir=tmp_path / "out"
    )
    assert result.status == "ok" and result.metrics.output_tokens == 4 * 4
    folder = tmp_path / "out" / result.experiment_id
    assert llem.results.load(folder) == result
    from llem.config.resolve import config_hash

    same = llem.load_config(QUICKSTART, overrides=["n_prompts=4", "max_output_tokens=4"])
    assert result.config_hash == config_hash(same)
    assert llem.run(same, output_dir=tmp_path / "again").config_hash == result.config_hash  # a config object


def test_study_plan_from_python():
    import llem

    pytest.importorskip("llem_pytorch")
    manifest = llem.study.plan(STUDY)
    assert len(manifest.points) == 6 and manifest.name


def test_results_load_refuses_a_folder_that_is_neither(tmp_path):
    import llem
    from llem.errors import UserError

    with pytest.raises(UserError, match="neither a result folder"):
        llem.results.load(tmp_path)


def python_blocks(doc: Path) -> list[str]:
    text = doc.read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


@pytest.mark.slow
def test_the_python_api_doc_runs_as_written(tmp_path):
    """Every ```python block of docs/python-api.md runs as written (from a folder holding the examples)."""
    pytest.importorskip("llem_pytorch")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    for block in python_blocks(ROOT / "docs" / "python-api.md"):
        proc = subprocess.run(
            [sys.executable, "-c", block],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "LLEM_FORCE_NO_GPU": "1", "LLEM_CACHE_DIR": str(tmp_path / "c")},
        )
        assert proc.returncode == 0, f"{block}\n{proc.stderr}"
    assert len(list((tmp_path / "runs").iterdir())) == 1
