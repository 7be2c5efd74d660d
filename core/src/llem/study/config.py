"""The study config: a base experiment, the axes swept over it, repetitions, order and isolation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from llem.config.load import convert, read_file
from llem.errors import ConfigError
from llem.study.slurm_config import SlurmSettings

# A sweep axis: explicit values, or `all` for the introspected test values of that parameter.
AxisValues = list[Any] | Literal["all"]


class StudyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A study: a base experiment varied along axes; each point measured `cycles` times, each run isolated."""

    base: Annotated[
        dict[str, Any] | str,
        Meta(
            description="The experiment every point starts from: an experiment config mapping, or the path "
            "of an experiment config file (relative to the study file)."
        ),
    ]
    name: Annotated[
        str | None, Meta(description="Study name, used for the study folder (None: the study file's stem).")
    ] = None
    sweep: Annotated[
        dict[str, AxisValues],
        Meta(
            description="Axes crossed with each other (Cartesian product): dotted parameter path -> list of "
            "values, or `all` for that parameter's introspected test values (e.g. pytorch.batch_size: "
            "[1, 4, 16])."
        ),
    ] = msgspec.field(default_factory=dict)
    groups: Annotated[
        list[dict[str, list[Any]]],
        Meta(
            description="Dependent axes: within a group the lists are zipped (same length, varied together); "
            "each group is then crossed with the sweep axes and the other groups."
        ),
    ] = msgspec.field(default_factory=list)
    experiments: Annotated[
        list[dict[str, Any]],
        Meta(
            description="Explicit points, each a mapping of overrides on the base (dotted keys or nested "
            "mappings), added to the swept points (not crossed with them)."
        ),
    ] = msgspec.field(default_factory=list)
    cycles: Annotated[int, Meta(ge=1, description="How many times each point is measured.")] = 1
    order: Annotated[
        Literal["sequential", "interleaved", "shuffled"],
        Meta(
            description="Run order: sequential (all cycles of a point, then the next point), interleaved "
            "(every point once per cycle, so slow drift such as heating spreads over all points), shuffled "
            "(interleaved, with the points in a seeded random order within each cycle)."
        ),
    ] = "interleaved"
    seed: Annotated[int, Meta(ge=0, description="Seed of the shuffled order.")] = 0
    isolation: Annotated[
        Literal["process"],
        Meta(
            description="process: every experiment runs in its own worker process, so a crash, an "
            "out-of-memory error or a hang cannot take the study down."
        ),
    ] = "process"
    reuse_model: Annotated[
        bool,
        Meta(
            description="Let consecutive experiments that differ only in runtime settings (decoder, batch "
            "size, prompts, output length, measurement) share one loaded model in one worker process. Saves "
            "load time; the experiments are then no longer isolated from each other's state."
        ),
    ] = False
    prepare_next: Annotated[
        bool,
        Meta(
            description="Start one spare worker process while the first experiment loads: it imports the "
            "backends' libraries once (stopped through every measured stage), and each later experiment's "
            "worker is forked from it, a process of its own that starts with the imports done (local "
            "executor)."
        ),
    ] = True
    timeout_s: Annotated[
        float,
        Meta(
            gt=0,
            description="Longest an experiment may run (start-up, load and measurement); then its worker "
            "process group is killed and the experiment recorded as failed.",
        ),
    ] = 3600.0
    max_consecutive_failures: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(
            description="Stop the study after this many failures in a row (circuit breaker; the rest are "
            "recorded as skipped). None: never stop."
        ),
    ] = 3
    output_dir: Annotated[
        str,
        Meta(
            description="Folder under which the study folder is written (relative to the working directory)."
        ),
    ] = "studies"
    executor: Annotated[
        Literal["local", "slurm"],
        Meta(
            description="Where the experiments run: local (worker processes on this machine, one at a time) "
            "or slurm (jobs on a SLURM cluster through submitit; the study folder must be on a filesystem "
            "the nodes share). `llem study run --executor` overrides it."
        ),
    ] = "local"
    slurm: Annotated[
        SlurmSettings, Meta(description="SLURM settings, used with executor: slurm (see docs/cluster.md).")
    ] = msgspec.field(default_factory=SlurmSettings)


def load_study_config(path: str | Path) -> tuple[StudyConfig, dict[str, Any], Path]:
    """Read and validate a study file; returns the config, the base experiment as a dict, and the file's
    folder.

    Errors are one-line ConfigErrors naming the file and the path inside it."""
    where = str(path)
    data = read_file(path)
    study = convert(data, StudyConfig, source=where)
    folder = Path(path).resolve().parent
    if isinstance(study.base, str):
        base_path = Path(study.base).expanduser()
        if not base_path.is_absolute():
            base_path = folder / base_path
        base = read_file(base_path)
        _rebase_prompt_path(base, base_path.parent)
    else:
        base = dict(study.base)
        _rebase_prompt_path(base, folder)
    check_study(study, source=where)
    return study, base, folder


def study_from_dict(
    data: dict[str, Any], *, folder: Path | None = None
) -> tuple[StudyConfig, dict[str, Any]]:
    """Validate a study given as a mapping (the Python API); `base` must then be a mapping or an absolute
    path."""
    study = convert(data, StudyConfig, source=None)
    folder = folder or Path.cwd()
    if isinstance(study.base, str):
        base_path = Path(study.base).expanduser()
        base_path = base_path if base_path.is_absolute() else folder / base_path
        base = read_file(base_path)
        _rebase_prompt_path(base, base_path.parent)
    else:
        base = dict(study.base)
        _rebase_prompt_path(base, folder)
    check_study(study, source=None)
    return study, base


def check_study(study: StudyConfig, *, source: str | None) -> None:
    """Rules msgspec cannot state: a name that is one folder name, non-empty axes, zipped groups of equal
    length, no axis given twice."""
    if study.name is not None and (
        not study.name.strip() or study.name in (".", "..") or any(c in study.name for c in "/\\\0")
    ):
        raise ConfigError(
            f"$.name: {study.name!r} is not a folder name (the study folder is output_dir/<name>-<time>; "
            "no '/', '\\' or '..')",
            source=source,
        )
    seen: dict[str, str] = {}
    for path, values in study.sweep.items():
        where = f"$.sweep.{path}"
        _check_path(path, where, source)
        if isinstance(values, list) and not values:
            raise ConfigError(f"{where}: an axis needs at least one value", source=source)
        seen[path] = where
    for i, group in enumerate(study.groups):
        where = f"$.groups[{i}]"
        if not group:
            raise ConfigError(f"{where}: a group needs at least one axis", source=source)
        lengths = {p: len(v) for p, v in group.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{p} has {n}" for p, n in lengths.items())
            raise ConfigError(
                f"{where}: the lists of a group are zipped and must have equal length ({shown})",
                source=source,
            )
        if 0 in lengths.values():
            raise ConfigError(f"{where}: an axis needs at least one value", source=source)
        for path in group:
            _check_path(path, f"{where}.{path}", source)
            if path in seen:
                raise ConfigError(f"{where}.{path}: already varied at {seen[path]}", source=source)
            seen[path] = f"{where}.{path}"
    for i, exp in enumerate(study.experiments):
        if not exp:
            raise ConfigError(
                f"$.experiments[{i}]: an explicit experiment needs at least one override", source=source
            )


def _check_path(path: str, where: str, source: str | None) -> None:
    if not path or any(not part for part in path.split(".")):
        raise ConfigError(f"{where}: not a dotted parameter path", source=source)


def _rebase_prompt_path(base: dict[str, Any], folder: Path) -> None:
    """A relative prompt file in the base is relative to the file naming it, not to the working directory."""
    prompts = base.get("prompts")
    if isinstance(prompts, dict) and prompts.get("source") == "file" and isinstance(prompts.get("path"), str):
        p = Path(prompts["path"]).expanduser()
        if not p.is_absolute():
            prompts["path"] = str(folder / p)
