"""The backend kit: the rules every backend shares, as pure functions (config in, decisions out)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from llem.config import Section
from llem.config.base import escape_hatch
from llem.kit.decoder import decoder_intent
from llem.kit.models import model_path
from llem.kit.parallel import world_size, world_size_problems
from llem.kit.precision import dtype_name
from llem.kit.timing import times_from_arrivals, times_from_steps
from llem.kit.unvalidated import escape_hatch_fields, unvalidated_keys, unvalidated_settings
from llem.plugins import Capabilities
from llem.plugins.types import DeviceInfo, GpuInfo
from llem.run.api import load_config
from msgspec import Meta

CAPS = Capabilities(
    precisions=("bf16",),
    decoding_strategies=("greedy", "sampling"),
    decoder_params=("temperature", "do_sample", "top_k", "top_p", "repetition_penalty", "min_new_tokens"),
)


@pytest.fixture
def config(toy_site):
    def make(**top: Any):
        return load_config({"model": "random:tiny-llama", "backend": "toy", **top})

    return make


def test_greedy_applies_no_sampling_parameter_and_says_so(config):
    intent = decoder_intent(config(decoder={"do_sample": False, "top_k": 5}), CAPS)
    assert intent.strategy == "greedy"
    assert intent.applied == {"do_sample": False, "repetition_penalty": 1.0}
    assert set(intent.ignored) == {"temperature", "top_k", "top_p"}


def test_sampling_applies_what_the_backend_implements_and_ignores_the_rest(config):
    intent = decoder_intent(
        config(fixed_output_length=False, decoder={"min_p": 0.1, "min_new_tokens": 3}), CAPS
    )
    assert intent.strategy == "sampling"
    assert intent.applied == {
        "do_sample": True, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "repetition_penalty": 1.0,
        "min_new_tokens": 3,
    }  # fmt: skip
    assert intent.ignored == {"min_p": "the backend does not implement it (its capabilities do not list it)"}


def test_fixed_output_length_leaves_the_length_to_the_batch(config):
    assert "min_new_tokens" not in decoder_intent(config(), CAPS).applied


def test_arrivals_give_observed_gaps_with_chunk_sizes_never_zeros():
    # the first step brought 2 tokens, a later one 2: nothing was observed between those tokens
    times = times_from_arrivals([(1.0, 2), (1.5, 1), (2.5, 2), (2.6, 1)])
    assert times.ttft_s == 1.0 and times.e2e_s == 2.6
    assert times.itl_s == pytest.approx([0.5, 1.0, 0.1]) and 0.0 not in times.itl_s
    assert times.itl_tokens == [1, 2, 1]
    assert times.ttft_s + sum(times.itl_s) == pytest.approx(times.e2e_s)
    single = times_from_arrivals([(1.0, 1), (1.2, 1)], end_s=1.3)
    assert single.itl_s == pytest.approx([0.2]) and single.itl_tokens is None and single.e2e_s == 1.3
    assert times_from_arrivals([]).ttft_s is None


def test_steps_are_one_token_each():
    times = times_from_steps([0.1, 0.2, 0.4, 0.5], 3, end_s=0.45)
    assert times.ttft_s == 0.1 and times.itl_s == pytest.approx([0.1, 0.2]) and times.e2e_s == 0.45
    assert times.itl_tokens is None


def test_world_size_needs_one_gpu_per_rank():
    two = DeviceInfo(gpus=tuple(GpuInfo(index=i, name="A100", compute_capability=(8, 0)) for i in range(2)))
    assert world_size(2, None, 3) == 6
    assert world_size_problems("x.tp", "ranks", 4, two) == ["x.tp: 4 ranks need 4 GPUs (one each), 2 visible"]
    assert world_size_problems("x.tp", "ranks", 2, two) == []
    assert world_size_problems("x.tp", "ranks", 4, DeviceInfo()) == []


def test_precision_names():
    assert [dtype_name(p) for p in ("fp32", "fp16", "bf16")] == ["float32", "float16", "bfloat16"]


def test_model_path_passes_hub_ids_and_folders_through(config):
    assert model_path(config(model="org/some-model")) == "org/some-model"


class _Hatched(Section):
    plain: dict[str, Any] | None = None
    extra_args: Annotated[dict[str, Any] | None, Meta(description="x", extra=escape_hatch())] = None


def test_escape_hatches_are_found_on_the_struct_and_recorded(config):
    assert escape_hatch_fields(_Hatched) == ["extra_args"]
    cfg = config(passthrough_kwargs={"b": 1, "a": 2})
    assert unvalidated_settings(cfg) == {"passthrough_kwargs": {"b": 1, "a": 2}}
    assert unvalidated_keys(cfg) == ["passthrough_kwargs.a", "passthrough_kwargs.b"]


def test_the_declared_batch_size_field_splits_the_prompts():
    from llem.run.batching import batch_size

    class Sized(Section):
        max_batch: int | None = None

    caps = Capabilities(precisions=("bf16",), decoding_strategies=("greedy",), decoder_params=())
    renamed = Capabilities(
        precisions=("bf16",), decoding_strategies=("greedy",), decoder_params=(), batch_size_field="max_batch"
    )
    assert batch_size(Sized(max_batch=4), renamed, 10) == 4
    assert batch_size(Sized(max_batch=None), renamed, 10) == 1
    assert batch_size(Sized(max_batch=4), caps, 10) == 1  # "batch_size" is not a field here: one per call
