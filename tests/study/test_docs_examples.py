"""The studies doc and the example study files cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from llem.study.config import StudyConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("study-*.yaml"))


def test_every_study_field_is_documented():
    text = (ROOT / "docs" / "studies.md").read_text(encoding="utf-8")
    missing = [f.name for f in msgspec.structs.fields(StudyConfig) if f"| `{f.name}` |" not in text]
    assert missing == []


def test_every_study_field_has_a_description():
    schema = msgspec.json.schema(StudyConfig)
    props = schema["$defs"]["StudyConfig"]["properties"]
    assert [name for name, p in props.items() if not p.get("description")] == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_studies_plan_here(example: Path, llem_cli):
    r = llem_cli("study", "plan", str(example))
    assert r.exit_code == 0, r.output
    assert "experiments ×" in r.stdout and "estimated duration" in r.stdout


def test_there_are_example_studies():
    assert len(EXAMPLES) >= 2


def test_every_slurm_field_is_documented_in_the_cluster_doc():
    from llem.study.slurm_config import SlurmSettings

    text = (ROOT / "docs" / "cluster.md").read_text(encoding="utf-8")
    missing = [f.name for f in msgspec.structs.fields(SlurmSettings) if f"| `{f.name}` |" not in text]
    assert missing == []
    schema = msgspec.json.schema(SlurmSettings)["$defs"]["SlurmSettings"]["properties"]
    assert [name for name, p in schema.items() if not p.get("description")] == []
