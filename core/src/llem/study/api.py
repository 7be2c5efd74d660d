"""The study entry points the CLI and Python users call: plan a study file, run or resume it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llem.errors import UserError
from llem.study.config import load_study_config
from llem.study.manifest import StudyManifest, load_manifest, save_manifest
from llem.study.planning import plan_study

if TYPE_CHECKING:
    from llem.plugins.manager import LlemPlugins
    from llem.plugins.types import DeviceInfo
    from llem.study.runner import StudyProgress


def plan(
    path: str | Path, *, plugins: LlemPlugins | None = None, device: DeviceInfo | None = None
) -> StudyManifest:
    """Expand the study file at `path` for this machine, running nothing: points, pruned, duplicates, runs."""
    from llem.errors import ConfigError
    from llem.measure.devices import detect_devices
    from llem.plugins.manager import get_plugin_manager

    study, base, _ = load_study_config(path)
    try:
        return plan_study(
            study,
            base,
            plugins=plugins or get_plugin_manager(),
            device=device or detect_devices(),
            study_file=path,
        )
    except ConfigError as exc:
        if exc.source is None:  # a path inside the study file: name the file too
            raise ConfigError(exc.message, source=str(path)) from None
        raise


def run(
    path: str | Path | None = None,
    *,
    output: str | Path | None = None,
    resume: str | Path | None = None,
    progress: StudyProgress | None = None,
    retry_failed: bool = False,
    plugins: LlemPlugins | None = None,
    device: DeviceInfo | None = None,
) -> tuple[StudyManifest, Path]:
    """Run the study file at `path` into a new study folder, or continue the study in `resume`.

    Returns the final manifest and the study folder. With `resume`, runs that completed are not run again; a
    study file given with it must still expand to the same points.
    """
    from llem.study.runner import new_study_dir, resume_dir_check, run_study

    if resume is not None:
        study_dir = Path(resume)
        resume_dir_check(study_dir)
        manifest = load_manifest(study_dir)
        if path is not None:
            _check_same_study(plan(path, plugins=plugins, device=device), manifest, study_dir)
    elif path is None:
        raise UserError("give a study file, or --resume DIR")
    else:
        manifest = plan(path, plugins=plugins, device=device)
        if not manifest.points:
            raise UserError(
                "no experiment left to run: every combination was pruned (llem study plan shows why)",
                source=str(path),
            )
        from llem.files import writable_dir_problem

        parent = (
            Path(output) if output is not None else Path(str(manifest.study.get("output_dir", "studies")))
        )
        if (problem := writable_dir_problem(parent)) is not None:
            raise UserError(f"the study folder cannot be written: {problem}", source=str(path))
        study_dir = new_study_dir(manifest, output, str(manifest.study.get("output_dir", "studies")))
        save_manifest(study_dir, manifest)
    return run_study(manifest, study_dir, progress=progress, retry_failed=retry_failed), study_dir


def _check_same_study(fresh: StudyManifest, saved: StudyManifest, study_dir: Path) -> None:
    """Resuming with a study file that now expands differently would mix two studies in one folder."""
    new = [(p.id, p.config_hash) for p in fresh.points]
    old = [(p.id, p.config_hash) for p in saved.points]
    if new != old or [r.id for r in fresh.runs] != [r.id for r in saved.runs]:
        raise UserError(
            "the study file no longer expands to the points and runs of this study (it was edited?); resume "
            "without the file to finish the study as planned, or start a new one",
            source=str(study_dir),
        )
