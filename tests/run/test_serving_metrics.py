"""Serving metrics of a window on hand-made timelines: what counts inside [start, end), goodput, J/request."""

import pytest
from llem.plugins.types import RequestOutput
from llem.results.serving import meets_slo, per_request_energy, serving_window, token_times, tpot_s


def req(arrival, ttft, gaps, *, error=None, inp=10):
    n = len(gaps) + 1 if error is None else 0
    e2e = ttft + sum(gaps) if error is None else None
    return RequestOutput(
        input_tokens=inp, output_tokens=n, arrival_s=arrival, ttft_s=ttft if error is None else None,
        e2e_s=e2e, itl_s=list(gaps) if error is None else None, error=error,
    )  # fmt: skip


def test_token_times_follow_first_token_and_gaps():
    assert token_times(req(1.0, 0.5, [0.25, 0.25])) == [1.5, 1.75, 2.0]
    assert token_times(req(1.0, None, [], error="HTTP 500")) == []


def test_token_times_without_gaps_are_spread_evenly():
    r = RequestOutput(input_tokens=1, output_tokens=3, arrival_s=0.0, ttft_s=1.0, e2e_s=2.0)
    assert token_times(r) == [1.0, 1.5, 2.0]


def test_window_counts_what_happened_inside_it():
    requests = [
        req(0.5, 0.2, [0.5, 0.5]),  # sent before the window, tokens at 0.7 1.2 1.7, finishes inside (1.7)
        req(1.5, 0.2, [0.2]),  # sent and finished inside: tokens 1.7 1.9
        req(2.5, 0.2, [0.5, 0.5]),  # sent inside, tokens 2.7 3.2 3.7: finishes after the window (end 3)
        req(2.8, None, [], error="HTTP 500: boom"),  # sent inside, failed
        req(3.5, 0.1, [0.1]),  # after the window entirely
    ]
    w = serving_window(
        requests, 1.0, 3.0, arrival="poisson", offered_rate_per_s=2.0, max_concurrency=None, slo_ms={},
        fixed_output_tokens=None,
    )  # fmt: skip
    s = w.serving
    assert (s.n_sent, s.n_completed, s.n_failed, s.n_good) == (3, 2, 1, 2)
    assert s.achieved_rate_per_s == pytest.approx(1.5)  # 3 sent in 2 s
    assert s.goodput_requests_per_s == pytest.approx(1.0)  # 2 good completions in 2 s
    assert w.output_tokens == 2 + 2 + 1  # 1.2, 1.7 | 1.7, 1.9 | 2.7
    assert w.input_tokens == 20  # of the two completed in the window
    assert w.ttft_s.n == 2 and w.e2e_s.n == 2  # latencies of the successful requests sent inside
    assert any("1 of 3 requests sent in the window failed: HTTP 500: boom" in n for n in w.notes)


def test_slo_judges_ttft_tpot_and_e2e():
    r = req(0.0, 0.1, [0.02, 0.04])  # ttft 100 ms, tpot 30 ms, e2e 160 ms
    assert tpot_s(r) == pytest.approx(0.03)
    assert meets_slo(r, {"ttft_ms": 100, "tpot_ms": 30, "e2e_ms": 160})
    assert not meets_slo(r, {"ttft_ms": 99})
    assert not meets_slo(r, {"tpot_ms": 29})
    assert not meets_slo(r, {"e2e_ms": 159})
    assert meets_slo(req(0.0, 0.1, []), {"tpot_ms": 1})  # one token: no TPOT to miss
    assert not meets_slo(req(0.0, None, [], error="x"), {})


def test_goodput_counts_only_requests_meeting_the_slo():
    requests = [req(1.0 + k * 0.1, 0.05 if k % 2 else 0.5, [0.01]) for k in range(10)]
    w = serving_window(
        requests, 0.0, 10.0, arrival="constant", offered_rate_per_s=10.0, max_concurrency=None,
        slo_ms={"ttft_ms": 100}, fixed_output_tokens=2,
    )  # fmt: skip
    assert (w.serving.n_completed, w.serving.n_good) == (10, 5)
    assert w.serving.output_length == "fixed"
    assert per_request_energy(w.serving, 100.0, 40.0) == (10.0, 20.0, 4.0)


def test_energy_per_request_is_none_when_energy_was_not_measured():
    w = serving_window(
        [req(0.5, 0.1, [])], 0.0, 1.0, arrival="poisson", offered_rate_per_s=1.0, max_concurrency=None,
        slo_ms={}, fixed_output_tokens=None,
    )  # fmt: skip
    assert per_request_energy(w.serving, None, None) == (None, None, None)


def test_lengths_that_differ_from_the_fixed_length_are_reported_as_counted():
    w = serving_window(
        [req(0.1, 0.1, [0.1]), req(0.2, 0.1, [0.1, 0.1])], 0.0, 5.0, arrival="poisson",
        offered_rate_per_s=1.0, max_concurrency=None, slo_ms={}, fixed_output_tokens=3,
    )  # fmt: skip
    assert w.serving.output_length == "counted"
    assert any("output length not fixed: 1 of 2" in n for n in w.notes)


def test_token_times_follow_multi_token_arrivals():
    r = RequestOutput(
        input_tokens=1,
        output_tokens=6,
        arrival_s=0.0,
        ttft_s=1.0,
        e2e_s=2.0,
        itl_s=[0.5, 0.5],
        itl_tokens=[1, 3],
    )
    assert token_times(r) == [1.0, 1.0, 1.5, 2.0, 2.0, 2.0]  # 2 tokens came with the first chunk
