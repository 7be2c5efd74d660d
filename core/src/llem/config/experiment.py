"""The experiment config: common fields here; backend sections are added per installed plugin
(see schema.py)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeVar, overload

import msgspec
from msgspec import Meta

from llem.config.base import Section
from llem.config.decoder import DecoderConfig
from llem.config.measurement import MeasurementConfig
from llem.config.prompts import PromptsConfig, SyntheticPrompts
from llem.config.rules import custom
from llem.config.serving import LoadConfig, SloConfig

SectionT = TypeVar("SectionT", bound=Section)

Precision = Literal["fp32", "fp16", "bf16"]


class ExperimentBase(Section):
    """One measured experiment: a model on a backend with one configuration, over a set of prompts."""

    # Filled in by schema.experiment_type(): the backend sections the installed plugins contribute.
    __sections__: ClassVar[dict[str, type[Section]]] = {}

    __rules__ = (
        custom(
            ("decoder.min_new_tokens",),
            lambda o: o.decoder.min_new_tokens is not None and o.decoder.min_new_tokens > o.max_output_tokens,
            message="decoder.min_new_tokens cannot exceed max_output_tokens",
            reason="a backend cannot generate more than max_output_tokens tokens",
            resolution="lower decoder.min_new_tokens or raise max_output_tokens",
        ),
        custom(
            ("decoder.min_new_tokens",),
            lambda o: o.fixed_output_length and o.decoder.min_new_tokens is not None,
            message="decoder.min_new_tokens is set while fixed_output_length is true",
            reason="fixed_output_length already forces exactly max_output_tokens tokens per prompt",
            resolution="remove decoder.min_new_tokens, or set fixed_output_length: false",
        ),
        custom(
            ("slo",),
            lambda o: o.slo is not None and o.load is None,
            message="slo is set without load",
            reason="latency objectives judge requests of a serving run, which a load section describes",
            resolution="add a load section (see docs/serving.md), or remove slo",
        ),
    )

    model: Annotated[
        str,
        Meta(
            description="Model: a Hugging Face hub id, a local path, or random:NAME for a bundled "
            "architecture with random weights (llem models lists them; no download needed)."
        ),
    ]
    backend: Annotated[
        str, Meta(description="Inference backend (llem backends list shows the installed ones).")
    ]
    name: Annotated[str | None, Meta(description="Experiment name, used for the result folder.")] = None
    precision: Annotated[Precision, Meta(description="Weight and activation dtype.")] = "bf16"
    n_prompts: Annotated[int, Meta(ge=1, description="Prompts in the measured window.")] = 32
    max_input_tokens: Annotated[
        int, Meta(ge=1, description="Longest prompt in tokens; longer file/dataset prompts are truncated.")
    ] = 128
    max_output_tokens: Annotated[int, Meta(ge=1, description="Tokens to generate per prompt (at most).")] = 64
    fixed_output_length: Annotated[
        bool,
        Meta(
            description="Generate exactly max_output_tokens per prompt (end-of-sequence ignored), so every "
            "configuration does the same work and per-token energy is comparable."
        ),
    ] = True
    random_seed: Annotated[int, Meta(ge=0, description="Seed for prompts, sampling and random weights.")] = 42
    prompts: Annotated[
        PromptsConfig, Meta(description="Prompt source: synthetic, file or dataset (the `source` key picks).")
    ] = msgspec.field(default_factory=SyntheticPrompts)
    decoder: Annotated[DecoderConfig, Meta(description="Sampling settings.")] = msgspec.field(
        default_factory=DecoderConfig
    )
    measurement: Annotated[MeasurementConfig, Meta(description="Measurement method.")] = msgspec.field(
        default_factory=MeasurementConfig
    )
    load: Annotated[
        LoadConfig | None,
        Meta(
            description="Serving run: measure a server under this request load instead of offline batches "
            "(backends that serve, e.g. server; see docs/serving.md)."
        ),
    ] = None
    slo: Annotated[
        SloConfig | None,
        Meta(
            description="Latency objectives of a serving run; requests meeting all of them count as goodput."
        ),
    ] = None
    output_dir: Annotated[str, Meta(description="Folder under which the result folder is written.")] = (
        "results"
    )
    carbon_intensity_g_per_kwh: Annotated[
        Annotated[float, Meta(ge=0)] | None,
        Meta(
            description="Grid carbon intensity (gCO2e per kWh) to turn the measured energy into emissions "
            "(None: $LLEM_CARBON_INTENSITY_G_PER_KWH, else not reported). No network lookup; not hashed.",
            examples=[350.0],
        ),
    ] = None
    price_per_kwh: Annotated[
        Annotated[float, Meta(ge=0)] | None,
        Meta(
            description="Electricity price per kWh to turn the measured energy into a cost (None: "
            "$LLEM_PRICE_PER_KWH, else not reported). Not hashed.",
            examples=[0.25],
        ),
    ] = None
    currency: Annotated[
        str | None,
        Meta(description="Label for price_per_kwh's currency, e.g. EUR (None: $LLEM_CURRENCY). Not hashed."),
    ] = None
    passthrough_kwargs: Annotated[
        dict[str, Any] | None,
        Meta(
            description="Escape hatch: extra keyword arguments passed unvalidated to the backend's "
            "generate call (each backend's docs say which call), merged last and recorded in the result "
            "as unvalidated."
        ),
    ] = None

    def __post_init__(self) -> None:
        for name, section_type in self.__sections__.items():
            if name != self.backend and getattr(self, name) is not None:
                raise ValueError(f"section '{name}' does not apply to backend '{self.backend}'")
            if name == self.backend and getattr(self, name) is None:
                setattr(self, name, section_type())
        super().__post_init__()

    @overload
    def section(self) -> Section: ...

    @overload
    def section(self, of: type[SectionT]) -> SectionT: ...

    def section(self, of: type[Section] | None = None) -> Section:
        """The chosen backend's section (never None once validated); `of`: the backend's own section Struct,
        for its typed fields (a TypeError if the config is another backend's: a bug in the caller)."""
        section: Section = getattr(self, self.backend)
        if of is not None and not isinstance(section, of):
            raise TypeError(f"the {self.backend!r} section is {type(section).__name__}, not {of.__name__}")
        return section
