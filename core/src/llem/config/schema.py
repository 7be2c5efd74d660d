"""Assemble the ExperimentConfig type from the installed backends' sections, and its JSON Schema."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from llem.config.base import Section
from llem.config.experiment import ExperimentBase


def experiment_type(sections: Mapping[str, type[Section]]) -> type[ExperimentBase]:
    """The ExperimentConfig Struct for exactly these backend sections (name -> section Struct)."""
    return _experiment_type(tuple(sorted(sections.items())))


@lru_cache(maxsize=16)
def _experiment_type(items: tuple[tuple[str, type[Section]], ...]) -> type[ExperimentBase]:
    names = tuple(name for name, _ in items)
    backend_type: Any = Literal[names] if names else str
    fields: list[tuple[str, Any, Any]] = [
        (
            "backend",
            Annotated[backend_type, Meta(description="Inference backend: one of the installed backends.")],
            msgspec.NODEFAULT,
        )
    ]
    for name, section in items:
        # the docstring's first paragraph, however it is wrapped
        doc = " ".join((section.__doc__ or "").strip().split("\n\n")[0].split())
        fields.append(
            (
                name,
                Annotated[section | None, Meta(description=f"Settings of the {name} backend. {doc}".strip())],
                None,
            )
        )
    cls = msgspec.defstruct(
        "ExperimentConfig",
        fields,
        bases=(ExperimentBase,),
        kw_only=True,
        forbid_unknown_fields=True,
        module=__name__,
    )
    assert issubclass(cls, ExperimentBase)  # defstruct's return type does not say it keeps the base
    cls.__sections__ = dict(items)
    cls.__doc__ = ExperimentBase.__doc__
    return cls


def json_schema(experiment: type[ExperimentBase]) -> dict[str, Any]:
    """JSON Schema of the experiment config (for editors and `llem schema`)."""
    schema = msgspec.json.schema(experiment)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "llem experiment config"
    return schema
