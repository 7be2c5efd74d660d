"""docs/backends/tensorrt-coverage.md stays true: every "exposed as" field exists, every section field is
listed, every unexposed row says why, and the stated percentage is the one the table gives."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
from llem.config.decoder import DecoderConfig
from llem.config.experiment import ExperimentBase
from llem_tensorrt._config import TensorRTConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "backends" / "tensorrt-coverage.md"
# Section fields that are not TensorRT-LLM arguments of their own: llem's escape hatches.
NOT_ARGUMENTS = {"extra_build_args", "extra_runtime_args"}


def _rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| Argument"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            assert len(cells) == 4, line
            rows.append(cells)
    return rows


def _fields(struct: type[msgspec.Struct]) -> set[str]:
    return {f.name for f in msgspec.structs.fields(struct)}


def test_every_exposed_field_exists():
    section, top, decoder = _fields(TensorRTConfig), _fields(ExperimentBase), _fields(DecoderConfig)
    for argument, _where, exposed, why in _rows():
        if exposed == "—":
            assert why, f"{argument}: not exposed without a reason"
            continue
        name = exposed.strip("`")
        if name.startswith("tensorrt."):
            assert name.removeprefix("tensorrt.") in section, (
                f"{argument}: {name} is not a TensorRTConfig field"
            )
        elif name.startswith("decoder."):
            assert name.removeprefix("decoder.") in decoder, (
                f"{argument}: {name} is not a DecoderConfig field"
            )
        else:
            assert name in top, f"{argument}: {name} is not an experiment field"
        assert not why, f"{argument}: exposed rows give no 'why not'"


def test_every_section_field_is_in_the_table():
    listed = {c[2].strip("`").removeprefix("tensorrt.") for c in _rows()}
    missing = _fields(TensorRTConfig) - NOT_ARGUMENTS - listed
    assert not missing, f"fields missing from the coverage table: {sorted(missing)}"


def test_stated_percentage_matches_the_table():
    rows = _rows()
    exposed = sum(1 for r in rows if r[2] != "—")
    stated = re.search(r"Coverage: (\d+) of (\d+) arguments exposed \(([\d.]+)%\)", DOC.read_text())
    assert stated is not None
    assert (int(stated[1]), int(stated[2])) == (exposed, len(rows))
    assert float(stated[3]) == round(100 * exposed / len(rows), 1)
