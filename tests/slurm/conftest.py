"""The real single-node SLURM cluster that tests/slurm/setup.sh starts (.ci/run calls it before pytest)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

STATUS_FILE = Path(os.environ.get("LLEM_SLURM_STATUS_FILE", "/tmp/llem-slurm-status"))


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(s.strip() in ("idle", "mixed", "allocated") for s in out.splitlines())


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """Skip, with setup.sh's own reason, where no SLURM cluster answers."""
    if not _cluster_up():
        why = STATUS_FILE.read_text().strip() if STATUS_FILE.is_file() else "tests/slurm/setup.sh was not run"
        pytest.skip(f"no SLURM cluster: {why}")
