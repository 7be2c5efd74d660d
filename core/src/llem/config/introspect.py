"""Introspection derived from the Structs and the plugins' declarations (never hand-maintained lists).

Every parameter path with its type, default, constraints, allowed values, description, GPU requirements and
auto-generated test values; the cross-field rules. Queries over the installed backends take them as a
parameter (`plugins`, the caller's plugin manager); their capabilities are tabled in llem.plugins.matrix.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec
import msgspec.inspect as mi

from llem.config.base import Section
from llem.config.decoder import DecoderConfig
from llem.config.experiment import ExperimentBase
from llem.config.measurement import MeasurementConfig
from llem.config.prompts import SyntheticPrompts
from llem.errors import UserError

if TYPE_CHECKING:
    from llem.config.installed import InstalledBackends


class ParamInfo(msgspec.Struct, kw_only=True):
    """One parameter path of the experiment config."""

    path: str
    type: str
    nullable: bool
    required: bool = False
    default: Any
    description: str
    allowed_values: list[Any] | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    test_values: list[Any] = msgspec.field(default_factory=list)
    gpu: dict[str, Any] | None = None
    variant: str | None = None


# -- walking the Structs -------------------------------------------------------------------------------------
def _unwrap(t: mi.Type) -> tuple[mi.Type, dict[str, Any], dict[str, Any]]:
    """Strip Metadata layers; return the inner type, merged extra, merged json-schema extra (description)."""
    extra: dict[str, Any] = {}
    schema: dict[str, Any] = {}
    while isinstance(t, mi.Metadata):
        extra.update(t.extra or {})
        schema.update(t.extra_json_schema or {})
        t = t.type
    return t, extra, schema


def _split_optional(t: mi.Type) -> tuple[list[mi.Type], bool]:
    inner, _, _ = _unwrap(t)
    if isinstance(inner, mi.UnionType):
        members = [m for m in inner.types if not isinstance(_unwrap(m)[0], mi.NoneType)]
        nullable = any(isinstance(_unwrap(m)[0], mi.NoneType) for m in inner.types)
        return members, nullable
    return [t], False


def _type_name(t: mi.Type) -> str:
    t, _, _ = _unwrap(t)
    simple = {
        mi.IntType: "int", mi.FloatType: "float", mi.BoolType: "bool", mi.StrType: "str", mi.AnyType: "any",
        mi.NoneType: "null",
    }  # fmt: skip
    for cls, name in simple.items():
        if isinstance(t, cls):
            return name
    if isinstance(t, mi.LiteralType):
        return "literal"
    if isinstance(t, mi.DictType):
        return f"dict[{_type_name(t.key_type)}, {_type_name(t.value_type)}]"
    if isinstance(t, (mi.ListType, mi.TupleType, mi.VarTupleType)):
        item = t.item_type if isinstance(t, (mi.ListType, mi.VarTupleType)) else None
        return f"list[{_type_name(item) if item is not None else 'any'}]"
    if isinstance(t, mi.UnionType):
        return " | ".join(_type_name(m) for m in t.types)
    if isinstance(t, mi.StructType):
        return t.cls.__name__
    return type(t).__name__.removesuffix("Type").lower()


def _default(field: mi.Field, owner: type) -> Any:
    if field.default is not msgspec.NODEFAULT and field.default is not msgspec.UNSET:
        return msgspec.to_builtins(field.default)
    if field.default_factory is not msgspec.NODEFAULT:
        return msgspec.to_builtins(field.default_factory())
    defaults = getattr(owner, "__defaults__", {})
    if field.name in defaults:
        return defaults[field.name]
    return None


def _constraint(t: mi.Type, name: str) -> float | None:
    t, _, _ = _unwrap(t)
    return getattr(t, name, None)


def _test_values(members: list[mi.Type], nullable: bool, default: Any, examples: list[Any]) -> list[Any]:
    values: list[Any] = []
    for member in members:
        t, _, _ = _unwrap(member)
        if isinstance(t, mi.LiteralType):
            values.extend(t.values)
        elif isinstance(t, mi.BoolType):
            values.extend([True, False])
        elif isinstance(t, (mi.IntType, mi.FloatType)):
            values.extend(_numeric_points(t))
        elif examples:
            values.extend(examples)
    if nullable:
        values.append(None)
    if not values and default is not None:
        values.append(default)
    out: list[Any] = []
    for v in values:  # keep order, drop duplicates (True == 1 must stay distinct from 1)
        if not any(v == o and type(v) is type(o) for o in out):
            out.append(v)
    return out


def _numeric_points(t: mi.IntType | mi.FloatType) -> list[Any]:
    is_int = isinstance(t, mi.IntType)
    lo = t.ge if t.ge is not None else (t.gt + (1 if is_int else 0.01) if t.gt is not None else None)
    hi = t.le if t.le is not None else (t.lt - (1 if is_int else 0.01) if t.lt is not None else None)
    pts: list[int | float]
    if lo is None and hi is None:
        pts = [0, 1, 10] if is_int else [0.0, 0.5, 1.0]
    elif hi is None:
        assert lo is not None
        pts = [lo, lo + 1, lo * 4 + 4] if is_int else [lo, lo + 0.5, lo + 2.0]
    elif lo is None:
        pts = [hi - 4, hi - 1, hi] if is_int else [hi - 1.0, hi - 0.5, hi]
    else:
        pts = [lo, (lo + hi) // 2, hi] if is_int else [lo, round((lo + hi) / 2, 6), hi]
    return [int(p) if is_int else float(p) for p in pts if not (isinstance(p, float) and math.isnan(p))]


def iter_params(struct: type[msgspec.Struct], prefix: str = "") -> Iterator[ParamInfo]:
    """Every leaf parameter of `struct`, depth first, with dotted paths under `prefix`."""
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    for field in info.fields:
        path = f"{prefix}{field.encode_name}"
        members, nullable = _split_optional(field.type)
        structs = [m for m in (_unwrap(m)[0] for m in members) if isinstance(m, mi.StructType)]
        if structs:
            tag_field = None
            for s in structs:
                variant = str(s.tag) if len(structs) > 1 and s.tag is not None else None
                tag_field = s.tag_field
                for p in iter_params(s.cls, f"{path}."):
                    p.variant = p.variant or variant
                    yield p
            if tag_field:
                yield ParamInfo(
                    path=f"{path}.{tag_field}",
                    type="literal",
                    nullable=False,
                    default=_default(field, struct).get(tag_field)
                    if isinstance(_default(field, struct), dict)
                    else None,
                    description=f"Which kind of {field.name}: {', '.join(str(s.tag) for s in structs)}.",
                    allowed_values=[s.tag for s in structs],
                    test_values=[s.tag for s in structs],
                )
            continue
        _, extra, schema = _unwrap(field.type)
        for m in members:
            _, m_extra, m_schema = _unwrap(m)
            extra = {**m_extra, **extra}
            schema = {**m_schema, **schema}
        literal = next((t for t in (_unwrap(m)[0] for m in members) if isinstance(t, mi.LiteralType)), None)
        numeric = next((m for m in members if isinstance(_unwrap(m)[0], (mi.IntType, mi.FloatType))), None)
        default = _default(field, struct)
        gpu = {k: v for k, v in extra.items() if k in _GPU_KEYS} or None
        yield ParamInfo(
            path=path,
            type=" | ".join(_type_name(m) for m in members) or "any",
            nullable=nullable,
            required=field.required,
            default=default,
            description=schema.get("description", ""),
            allowed_values=list(literal.values) if literal is not None else None,
            ge=_constraint(numeric, "ge") if numeric is not None else None,
            gt=_constraint(numeric, "gt") if numeric is not None else None,
            le=_constraint(numeric, "le") if numeric is not None else None,
            lt=_constraint(numeric, "lt") if numeric is not None else None,
            test_values=_test_values(members, nullable, default, list(schema.get("examples", []))),
            gpu=gpu,
        )


_GPU_KEYS = ("min_compute_capability", "value_min_compute_capability", "needs_cuda", "gpu_note")


def allowed_values_at(struct: type[msgspec.Struct], path: str) -> list[Any] | None:
    """Allowed values of the Literal parameter at `$.a.b` (None if it is not a Literal)."""
    dotted = path.removeprefix("$").removeprefix(".")
    for p in iter_params(struct):
        if p.path == dotted and p.allowed_values is not None:
            return p.allowed_values
    return None


# -- queries over the installed backends ---------------------------------------------------------------------
def get_shared_params(plugins: InstalledBackends | None = None) -> dict[str, ParamInfo]:
    """Parameters common to every backend (top level, prompts, decoder, measurement).

    With `plugins`, `backend` lists the installed backends as its allowed values.
    """
    struct = plugins.experiment_type() if plugins is not None else ExperimentBase
    sections = set(plugins.backends) if plugins is not None else set()
    return {p.path: p for p in iter_params(struct) if p.path.split(".")[0] not in sections}


def get_backend_params(name: str, plugins: InstalledBackends) -> dict[str, ParamInfo]:
    """Every parameter of backend `name`'s section, keyed by path (e.g. 'pytorch.num_beams')."""
    entries = plugins.backends
    if name not in entries:
        raise UserError(plugins.unavailable_reason(name))
    section = entries[name].config
    return {p.path: p for p in iter_params(section, f"{name}.")}


def get_backend_specific_params(plugins: InstalledBackends) -> dict[str, list[str]]:
    """Parameter paths of each installed backend's section."""
    return {name: list(get_backend_params(name, plugins)) for name in sorted(plugins.backends)}


def _sections(plugins: InstalledBackends) -> list[tuple[str, str, type[Section]]]:
    """(owner, path prefix, Struct) for every Struct that can carry rules."""
    out: list[tuple[str, str, type[Section]]] = [
        ("core", "", ExperimentBase),
        ("core", "decoder.", DecoderConfig),
        ("core", "measurement.", MeasurementConfig),
        ("core", "prompts.", SyntheticPrompts),
    ]
    out += [(name, f"{name}.", entry.config) for name, entry in sorted(plugins.backends.items())]
    return out


def get_validation_rules(plugins: InstalledBackends) -> list[dict[str, Any]]:
    """Every cross-field rule, from the same declarations that enforce it."""
    rules = []
    for owner, prefix, struct in _sections(plugins):
        for rule in struct.__rules__:
            rules.append(
                {
                    "backend": owner,
                    "kind": rule.kind,
                    "fields": [f if "." in f and not prefix else f"{prefix}{f}" for f in rule.fields],
                    "combination": rule.message,
                    "reason": rule.reason,
                    "resolution": rule.resolution,
                }
            )
    return rules


def get_mutual_exclusions(plugins: InstalledBackends) -> dict[str, list[str]]:
    """path -> the settings it cannot be combined with ('other' or 'other=value' / 'other!=value')."""
    out: dict[str, list[str]] = {}
    for _owner, prefix, struct in _sections(plugins):
        for rule in struct.__rules__:
            if rule.kind == "exclusive":
                a, b = (f"{prefix}{f}" for f in rule.fields)
                out.setdefault(a, []).append(b)
                out.setdefault(b, []).append(a)
            elif rule.kind in ("requires", "conflicts") and rule.condition is not None:
                on, value = rule.condition
                op = "!=" if rule.kind == "requires" else "="
                shown = "true" if value is True else "false" if value is False else value
                for f in rule.fields:
                    out.setdefault(f"{prefix}{f}", []).append(f"{prefix}{on}{op}{shown}")
    return out


def _gpu_requirements(plugins: InstalledBackends) -> list[tuple[str, float | None, bool, str]]:
    """(param or param=value, min compute capability or None, needs CUDA, note) for every declared
    requirement."""
    out: list[tuple[str, float | None, bool, str]] = []
    params = list(get_shared_params().values())
    for name in sorted(plugins.backends):
        params += list(get_backend_params(name, plugins).values())
    for p in params:
        if not p.gpu:
            continue
        note = p.gpu.get("gpu_note", "")
        if "min_compute_capability" in p.gpu:
            out.append((p.path, p.gpu["min_compute_capability"], True, note))
        for value, cc in p.gpu.get("value_min_compute_capability", {}).items():
            out.append((f"{p.path}={value}", cc, True, note))
        cuda = p.gpu.get("needs_cuda")
        if cuda is True:
            out.append((p.path, None, True, note))
        elif cuda:
            out.extend((f"{p.path}={v}", None, True, note) for v in cuda)
    return out


def get_params_requiring_gpu_capability(
    min_compute_capability: float, plugins: InstalledBackends
) -> list[str]:
    """Settings gated on a compute capability at or below `min_compute_capability` (what that tier unlocks).

    get_params_requiring_gpu_capability(8.0) lists the Ampere tier; (9.0) adds the Hopper tier.
    """
    reqs = _gpu_requirements(plugins)
    return sorted({p for p, cc, _, _ in reqs if cc is not None and cc <= min_compute_capability})


def get_params_unsupported_on(compute_capability: float | None, plugins: InstalledBackends) -> dict[str, str]:
    """Settings that cannot run on a GPU of this capability (None: no GPU at all), with the reason."""
    out = {}
    for p, cc, cuda, note in _gpu_requirements(plugins):
        if compute_capability is None and cuda:
            out[p] = "needs an NVIDIA GPU" + (f" (compute capability {cc})" if cc else "")
        elif cc is not None and compute_capability is not None and compute_capability < cc:
            out[p] = f"needs compute capability {cc}, have {compute_capability}"
        if p in out and note:
            out[p] += f"; {note}"
    return out


def get_param_skip_conditions(plugins: InstalledBackends) -> dict[str, str]:
    """Settings a sweep may have to skip, with why: GPU tiers, CUDA-only values, and cross-field
    requirements."""
    out: dict[str, str] = {}
    for p, cc, _cuda, note in _gpu_requirements(plugins):
        why = f"Requires compute capability {cc}+" if cc else "Requires an NVIDIA GPU (CUDA)"
        out[p] = f"{why}; {note}" if note else why
    for rule in get_validation_rules(plugins):
        if rule["kind"] == "requires":
            for f in rule["fields"]:
                out.setdefault(f, f"{rule['combination']} ({rule['reason']})")
    return out
