"""Run order, model-reuse batching, the t-based confidence interval and the Pareto front."""

from __future__ import annotations

import math

import pytest
from llem.report.pareto import pareto_front
from llem.study.order import Run, model_key, order_runs, worker_batches
from llem.study.stats import summarize, t_quantile


def ids(runs):
    return [r.id for r in runs]


def test_sequential_runs_all_cycles_of_a_point_first():
    assert ids(order_runs(["a", "b"], 2, "sequential")) == ["a-c1", "a-c2", "b-c1", "b-c2"]


def test_interleaved_runs_every_point_once_per_cycle():
    assert ids(order_runs(["a", "b"], 2, "interleaved")) == ["a-c1", "b-c1", "a-c2", "b-c2"]


def test_shuffled_is_seeded_per_cycle_and_keeps_cycles_together():
    points = [f"p{i}" for i in range(8)]
    one = order_runs(points, 3, "shuffled", seed=7)
    assert one == order_runs(points, 3, "shuffled", seed=7)
    assert one != order_runs(points, 3, "shuffled", seed=8)
    for c in (1, 2, 3):
        assert sorted(r.point_id for r in one[(c - 1) * 8 : c * 8]) == points
        assert {r.cycle for r in one[(c - 1) * 8 : c * 8]} == {c}
    assert [r.point_id for r in one[:8]] != [r.point_id for r in one[8:16]]


def test_model_key_ignores_runtime_settings_only():
    base = {
        "model": "m",
        "backend": "pytorch",
        "precision": "fp16",
        "decoder": {"temperature": 0.0},
        "n_prompts": 4,
        "pytorch": {"batch_size": 1, "attn_implementation": "sdpa"},
    }
    runtime = {
        **base,
        "decoder": {"temperature": 1.0},
        "n_prompts": 8,
        "pytorch": {**base["pytorch"], "batch_size": 8},
    }
    assert model_key(base) == model_key(runtime)
    assert model_key(base) != model_key({**base, "precision": "bf16"})
    assert model_key(base) != model_key(
        {**base, "pytorch": {**base["pytorch"], "attn_implementation": "eager"}}
    )


def test_the_batch_size_field_is_the_one_the_backend_declares(monkeypatch):
    # a backend whose batch size is `max_batch` (Capabilities.batch_size_field): that field, not a field named
    # batch_size, is the runtime setting that may change on a loaded model
    from llem.study import order

    monkeypatch.setattr(order, "batch_size_field", lambda backend: "max_batch")
    monkeypatch.setattr("llem.study.estimate.batch_size_field", order.batch_size_field)
    base = {"model": "m", "backend": "eng", "eng": {"max_batch": 1, "batch_size": 3}}
    assert model_key(base) == model_key({**base, "eng": {"max_batch": 16, "batch_size": 3}})
    assert model_key(base) != model_key({**base, "eng": {"max_batch": 1, "batch_size": 4}})
    from llem.study.estimate import work_tokens

    cfg = {**base, "n_prompts": 8, "max_output_tokens": 2, "measurement": {"warmup_batches": 2}}
    assert work_tokens(cfg) == (8 + 2 * 1) * 2  # warm-up batches of max_batch prompts


def test_reuse_groups_consecutive_runs_of_one_model():
    runs = [Run(point_id=p, cycle=1) for p in ["a", "b", "c", "a"]]
    keys = {"a": "k1", "b": "k1", "c": "k2"}
    assert [ids(b) for b in worker_batches(runs, keys, reuse_model=True)] == [
        ["a-c1", "b-c1"],
        ["c-c1"],
        ["a-c1"],
    ]
    assert len(worker_batches(runs, keys, reuse_model=False)) == 4


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 12.7062), (2, 4.3027), (4, 2.7764), (9, 2.2622), (29, 2.0452)]
)
def test_t_quantile_matches_published_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_summary_mean_std_and_95_percent_ci():
    s = summarize([10.0, 12.0, 14.0, None])
    assert (s.n, s.mean, s.std) == (3, 12.0, 2.0)
    assert s.ci95 == pytest.approx(4.3027 * 2.0 / math.sqrt(3), rel=1e-4)
    assert s.ci95_low == pytest.approx(12.0 - s.ci95)
    one = summarize([5.0])
    assert (one.mean, one.std, one.ci95) == (5.0, None, None)
    assert summarize([]).mean is None


def test_pareto_front_keeps_only_undominated_points():
    xs = [100, 200, 150, 300, 300]  # throughput: higher is better
    ys = [1.0, 0.5, 0.4, 0.9, 0.95]  # cost: lower is better
    assert pareto_front(xs, ys) == [2, 1, 3]
