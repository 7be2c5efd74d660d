"""The study entry points the CLI and Python users call: plan a study file, run or resume it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from llem.config.load import convert
from llem.errors import ConfigError, UserError
from llem.files import writable_dir_problem
from llem.measure.devices import detect_devices
from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import DeviceInfo, GpuInfo
from llem.study.config import StudyConfig, load_study_config
from llem.study.lock import StudyLock
from llem.study.manifest import StudyManifest, load_manifest, save_manifest
from llem.study.planning import plan_study
from llem.study.runner import new_study_dir, resume_dir_check, run_study

if TYPE_CHECKING:
    from llem.plugins.manager import LlemPlugins
    from llem.study.bookkeeping import StudyProgress


def plan(
    path: str | Path,
    *,
    plugins: LlemPlugins | None = None,
    device: DeviceInfo | None = None,
    executor: str | None = None,
) -> StudyManifest:
    """Expand the study file at `path` for this machine, running nothing: points, pruned, duplicates, runs.

    A SLURM study (the file's executor, or `executor`) naming `slurm.node_gpus` is planned for those GPUs."""
    study, base, _ = load_study_config(path)
    if executor is not None:
        study = msgspec.structs.replace(study, executor=executor)
    try:
        return plan_study(
            study,
            base,
            plugins=plugins or get_plugin_manager(),
            device=device or planning_device(study) or detect_devices(),
            study_file=path,
        )
    except ConfigError as exc:
        if exc.source is None:  # a path inside the study file: name the file too
            raise ConfigError(exc.message, source=str(path)) from None
        raise


def planning_device(study: StudyConfig) -> DeviceInfo | None:
    """The compute nodes' GPUs a SLURM study names (slurm.node_gpus), planned for instead of ours."""
    gpus = study.slurm.node_gpus
    if study.executor != "slurm" or gpus is None:
        return None
    return DeviceInfo(
        gpus=tuple(
            GpuInfo(index=i, name=gpus.name, compute_capability=gpus.compute_capability)
            for i in range(gpus.count)
        )
    )


def run(
    path: str | Path | None = None,
    *,
    output: str | Path | None = None,
    resume: str | Path | None = None,
    progress: StudyProgress | None = None,
    retry_failed: bool = False,
    executor: str | None = None,
    slurm: dict[str, Any] | None = None,
    plugins: LlemPlugins | None = None,
    device: DeviceInfo | None = None,
) -> tuple[StudyManifest, Path]:
    """Run the study file at `path` into a new study folder, or continue the study in `resume`.

    Returns the final manifest and the study folder. With `resume`, runs that completed are not run again; a
    study file given with it must still expand to the same points. `executor` ("local" or "slurm") and `slurm`
    (settings of the study file's `slurm:` section) override the study file. The study folder is locked for
    the whole call: a second runner on it raises StudyLocked (a UserError naming the holder)."""
    if resume is not None:
        study_dir = Path(resume)
        resume_dir_check(study_dir)
        lock = StudyLock(study_dir).acquire()  # before reading: the holder may be rewriting the manifest
        try:
            manifest = load_manifest(study_dir)
            if path is not None:
                fresh = plan(path, plugins=plugins, device=device, executor=executor)
                _check_same_study(fresh, manifest, study_dir)
        except BaseException:
            lock.release()
            raise
    elif path is None:
        raise UserError("give a study file, or --resume DIR")
    else:
        manifest = plan(path, plugins=plugins, device=device, executor=executor)
        if not manifest.points:
            raise UserError(
                "no experiment left to run: every combination was pruned (llem study plan shows why)",
                source=str(path),
            )
        parent = (
            Path(output) if output is not None else Path(str(manifest.study.get("output_dir", "studies")))
        )
        if (problem := writable_dir_problem(parent)) is not None:
            raise UserError(f"the study folder cannot be written: {problem}", source=str(path))
        study_dir = new_study_dir(manifest, output, str(manifest.study.get("output_dir", "studies")))
        lock = StudyLock(study_dir).acquire()
        if (study_dir / "study.json").exists():  # another runner created it between the check and the lock
            lock.release()
            raise UserError(
                "already holds a study; continue it with --resume, or choose another --output",
                source=str(study_dir),
            )
        save_manifest(study_dir, manifest)
    try:
        if executor is not None or slurm:  # saved by run_study once it accepts them
            manifest.study = _with_executor(manifest.study, executor, slurm or {})
        final = run_study(manifest, study_dir, progress=progress, retry_failed=retry_failed)
    finally:
        lock.release()
    return final, study_dir


def _with_executor(study: dict[str, Any], executor: str | None, slurm: dict[str, Any]) -> dict[str, Any]:
    """The study settings with the executor chosen on the command line (flags win over the study file)."""
    merged = dict(study)
    if executor is not None:
        merged["executor"] = executor
    if slurm:
        merged["slurm"] = {**(merged.get("slurm") or {}), **slurm}
    convert(merged, StudyConfig, source="command line")  # a bad flag value: one line naming it
    return merged


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
