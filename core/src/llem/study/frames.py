"""Load a study folder into pandas DataFrames in one call (pandas is an optional extra: llem-core[report])."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llem.errors import UserError
from llem.study.manifest import StudyManifest, load_manifest
from llem.study.nodes import node_rows
from llem.study.table import aggregate_rows, run_rows

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class StudyFrames:
    """A study as DataFrames: `runs` (one row per experiment × cycle), `aggregate` (one row per configuration:
    mean, std and 95% CI of each metric), `pruned` (combinations not run, with the reason), `nodes` (one row
    per node that measured runs, with flags where it differs from the others) and the raw manifest."""

    runs: pd.DataFrame
    aggregate: pd.DataFrame
    pruned: pd.DataFrame
    manifest: StudyManifest
    nodes: pd.DataFrame | None = None

    def __iter__(self) -> Any:  # runs, aggregate = llem.study.load(path)
        return iter((self.runs, self.aggregate))


def load(study_dir: str | Path) -> StudyFrames:
    """The study in `study_dir` as pandas DataFrames, read from its manifest and each run's result.json."""
    try:
        # deferred: pandas is optional and heavy
        import pandas as pd
    except ImportError:
        raise UserError(
            "llem.study.load needs pandas: pip install 'llem-core[report]' (or pip install pandas)"
        ) from None
    folder = Path(study_dir)
    manifest = load_manifest(folder)
    rows = run_rows(folder, manifest)
    runs = pd.DataFrame(rows)
    aggregate = pd.DataFrame(aggregate_rows(rows, manifest))
    pruned = pd.DataFrame(
        [{"label": p.label, "origin": p.origin, "reason": p.reason} for p in manifest.pruned],
        columns=["label", "origin", "reason"],
    )
    nodes = pd.DataFrame(node_rows(rows))
    return StudyFrames(runs=runs, aggregate=aggregate, pruned=pruned, manifest=manifest, nodes=nodes)
