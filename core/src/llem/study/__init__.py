"""Studies: sweeps of experiments over parameter axes, repeated in cycles, each run isolated in its own
process.

Python API: `plan(path)` expands a study file without running it; `run(path, ...)` runs it (or resumes one);
`load(study_dir)` returns its results as pandas DataFrames. Submodules are imported lazily so the worker
process (`python -m llem.study.worker`) starts without pulling in what it does not use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llem.study.api import plan, run
    from llem.study.frames import StudyFrames, load

__all__ = ["StudyFrames", "load", "plan", "run"]


def __getattr__(name: str) -> Any:
    # deferred, both: `python -m llem.study.worker` imports this package first, and importing the runner
    # from here would load the worker module twice (runpy warns); pandas-backed frames load on first use
    if name in ("load", "StudyFrames"):
        from llem.study import frames

        return getattr(frames, name)
    if name in ("plan", "run"):
        from llem.study import api  # deferred: see above

        return getattr(api, name)
    raise AttributeError(f"module 'llem.study' has no attribute {name!r}")
