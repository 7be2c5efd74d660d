"""Expand a study into its points: cross the axes, apply them to the base, validate, prune and deduplicate.

Every point goes through exactly the validation a single `llem run` would apply (the config Structs and their
rules, the declared GPU requirements for this machine, the backend's own `llem_validate`): a point that would
fail there is pruned here, with the reason, before anything runs."""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from llem.config.introspect import ParamInfo, get_backend_params, get_shared_params
from llem.config.resolve import config_hash, load_experiment, to_dict
from llem.errors import ConfigError, UserError
from llem.plugins.validate import validate_experiment
from llem.study.config import StudyConfig

if TYPE_CHECKING:
    from llem.plugins.manager import LlemPlugins
    from llem.plugins.types import DeviceInfo

# Marks "not set" inside an override: the key is removed so the field takes its default.
_REMOVE = object()

# Most combinations a study may expand to (LLEM_MAX_STUDY_POINTS overrides): each is validated like a run, so
# 10,000 plan in seconds, while a 10^6-point grid would plan for hours and runs for years.
MAX_POINTS = 10_000


class Point(msgspec.Struct, kw_only=True):
    """One configuration the study measures."""

    id: str
    label: str
    overrides: dict[str, Any]
    origin: str
    config_hash: str
    config: dict[str, Any]


class PrunedPoint(msgspec.Struct, kw_only=True):
    """A combination that cannot run (here), and why."""

    label: str
    overrides: dict[str, Any]
    origin: str
    reason: str


class DuplicatePoint(msgspec.Struct, kw_only=True):
    """A combination resolving to the same config as an earlier point (same config hash): measured once."""

    label: str
    overrides: dict[str, Any]
    origin: str
    same_as: str
    config_hash: str


class Expansion(msgspec.Struct, kw_only=True):
    """What a study expands to: the points to run, and the combinations pruned or merged as duplicates."""

    points: list[Point]
    pruned: list[PrunedPoint]
    duplicates: list[DuplicatePoint]
    varied: list[str]


def expand_study(
    study: StudyConfig, base: Mapping[str, Any], *, plugins: LlemPlugins, device: DeviceInfo
) -> Expansion:
    """All points of `study` on this machine, validated as single runs are, pruned and deduplicated."""
    check_base(base, plugins)
    candidates = list(_candidates(study, base, plugins))
    points: list[Point] = []
    pruned: list[PrunedPoint] = []
    duplicates: list[DuplicatePoint] = []
    by_hash: dict[str, Point] = {}
    base_backend = base.get("backend")
    for origin, overrides in candidates:
        label = point_label(overrides)
        data = apply_point(base, overrides, plugins, base_backend)
        try:
            config = load_experiment(data, plugins=plugins)
        except UserError as exc:
            pruned.append(PrunedPoint(label=label, overrides=overrides, origin=origin, reason=_reason(exc)))
            continue
        try:
            problems = validate_experiment(config, device, plugins)
        except UserError as exc:  # a broken backend: its points cannot run, the others still can
            problems = [_reason(exc)]
        if problems:
            pruned.append(
                PrunedPoint(label=label, overrides=overrides, origin=origin, reason="; ".join(problems))
            )
            continue
        digest = config_hash(config)
        if digest in by_hash:
            duplicates.append(
                DuplicatePoint(
                    label=label,
                    overrides=overrides,
                    origin=origin,
                    same_as=by_hash[digest].id,
                    config_hash=digest,
                )
            )
            continue
        point_id = f"p{len(points) + 1:03d}"
        resolved = to_dict(config)
        resolved["name"] = point_id
        point = Point(
            id=point_id, label=label, overrides=overrides, origin=origin, config_hash=digest, config=resolved
        )
        by_hash[digest] = point
        points.append(point)
    varied = list(dict.fromkeys(p for _, o in candidates for p in o))
    return Expansion(points=points, pruned=pruned, duplicates=duplicates, varied=varied)


def _candidates(
    study: StudyConfig, base: Mapping[str, Any], plugins: LlemPlugins
) -> Iterable[tuple[str, dict[str, Any]]]:
    """(origin, overrides) for every combination, in a stable order: the crossed axes first, then explicit
    ones."""
    axes: list[list[dict[str, Any]]] = []
    for path, values in study.sweep.items():
        resolved = axis_values(path, values, base, plugins, where=f"$.sweep.{path}")
        axes.append([{path: v} for v in resolved])
    for i, group in enumerate(study.groups):
        for path in group:
            check_known_path(path, base, plugins, where=f"$.groups[{i}].{path}")
        paths = list(group)
        axes.append([dict(zip(paths, row, strict=True)) for row in zip(*group.values(), strict=True)])
    _check_count(axes, len(study.experiments))
    if axes:
        for combo in itertools.product(*axes):
            merged: dict[str, Any] = {}
            for part in combo:
                merged.update(part)
            yield "sweep", merged
    for i, exp in enumerate(study.experiments):
        flat = flatten(exp)
        for path in flat:
            check_known_path(path, base, plugins, where=f"$.experiments[{i}].{path}")
        yield f"experiments[{i}]", flat
    if not axes and not study.experiments:
        yield "base", {}


def _check_count(axes: list[list[dict[str, Any]]], n_explicit: int) -> None:
    """Refuse a grid too large to plan, before expanding it (counting is free, expanding is not)."""
    limit = int(os.environ.get("LLEM_MAX_STUDY_POINTS") or MAX_POINTS)
    count = math.prod(len(a) for a in axes) if axes else 0
    if count + n_explicit > limit:
        sizes = " × ".join(str(len(a)) for a in axes)
        raise ConfigError(
            f"$.sweep: {count + n_explicit:,} combinations ({sizes} crossed"
            f"{f' + {n_explicit} explicit' if n_explicit else ''}) is more than llem plans ({limit:,}; "
            "LLEM_MAX_STUDY_POINTS raises it): split the study, or zip axes with groups"
        )


def check_base(base: Mapping[str, Any], plugins: LlemPlugins) -> None:
    """One error at `$.base.<path>` for a key no installed schema knows, not every point pruned with it.

    Sections of backends that are not installed are left to pruning (a study may sweep over backends this
    machine lacks); values that are mappings themselves (`pytorch.max_memory`) are checked by validation."""
    params = known_params(plugins)
    for path in flatten(base):
        head = path.split(".")[0]
        if head not in plugins.backends and head in plugins.known_names():
            continue
        parts = path.split(".")
        if any(".".join(parts[:i]) in params for i in range(1, len(parts) + 1)):
            continue
        check_known_path(path, base, plugins, where=f"$.base.{path}")


def axis_values(
    path: str, values: list[Any] | str, base: Mapping[str, Any], plugins: LlemPlugins, *, where: str
) -> list[Any]:
    """The values of one sweep axis; `all` becomes the parameter's introspected test values."""
    info = check_known_path(path, base, plugins, where=where)
    if values != "all":
        return list(values)
    if path == "backend":
        return sorted(plugins.backends)
    if info is None or not info.test_values:
        raise ConfigError(
            f"{where}: `all` needs a parameter with introspected test values; list the values instead"
        )
    return list(info.test_values)


def check_known_path(
    path: str, base: Mapping[str, Any], plugins: LlemPlugins, *, where: str
) -> ParamInfo | None:
    """The ParamInfo of a parameter path; a ConfigError naming `where` if no installed schema knows the path.

    A path may also name a whole section (`prompts`, `decoder`) or a key under the free-form
    `passthrough_kwargs`."""
    params = known_params(plugins)
    if path in params:
        return params[path]
    head = path.split(".")[0]
    if head == "passthrough_kwargs" or any(p.startswith(path + ".") for p in params):
        return None
    if head in plugins.known_names() and head not in plugins.backends:
        raise ConfigError(f"{where}: {plugins.unavailable_reason(head)}")
    close = _closest(path, params)
    hint = f" (did you mean {close}?)" if close else " (llem backends show NAME lists a backend's parameters)"
    raise ConfigError(f"{where}: unknown parameter path{hint}")


def known_params(plugins: LlemPlugins) -> dict[str, ParamInfo]:
    params = dict(get_shared_params(plugins))
    for name in sorted(plugins.backends):
        params.update(get_backend_params(name, plugins))
    return params


def _closest(path: str, params: Mapping[str, ParamInfo]) -> str | None:
    match = difflib.get_close_matches(path, list(params), n=1, cutoff=0.75)
    return match[0] if match else None


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}, 'c.d': 2} -> {'a.b': 1, 'c.d': 2}; an empty mapping stays a leaf."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def apply_point(
    base: Mapping[str, Any], overrides: Mapping[str, Any], plugins: LlemPlugins, base_backend: Any = None
) -> dict[str, Any]:
    """The base experiment with one point's overrides set; a None value unsets the field (its default
    applies).

    When the point changes `backend`, the base's sections of other backends are dropped (they describe the
    base's backend, not this one); sections the point sets itself are kept, so a mismatch is still reported.
    """
    data = copy.deepcopy(dict(base))
    backend = overrides.get("backend", base_backend)
    if backend != base_backend:
        for name in list(data):
            if name != backend and name in plugins.known_names():
                del data[name]
    for path, value in overrides.items():
        _set(data, path.split("."), _REMOVE if value is None else copy.deepcopy(value))
    return data


def _set(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            if value is _REMOVE:
                return
            child = node[part] = {}
        node = child
    if value is _REMOVE:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def point_label(overrides: Mapping[str, Any]) -> str:
    """A short human label: 'pytorch.batch_size=4, decoder.preset=standard' ('base' for no overrides)."""
    if not overrides:
        return "base"
    return ", ".join(f"{path}={_show(v)}" for path, v in overrides.items())


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return msgspec.json.encode(value).decode()
    return str(value)


def _reason(exc: UserError) -> str:
    return exc.message if isinstance(exc, UserError) else str(exc)


def config_value(config: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of a resolved config dict (None where absent)."""
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node
