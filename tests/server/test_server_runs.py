"""Serving runs of the server backend against the local test server: metrics, fault paths, request fields.

Real HTTP on 127.0.0.1, the real lifecycle and plugin manager. Windows are counted in requests
(n_requests), so what the tests assert does not depend on the machine's speed; every wait is bounded
by a request timeout.
"""

import json

import pytest
from llem.config.resolve import load_experiment
from llem.plugins.manager import get_plugin_manager
from llem.run.lifecycle import run_experiments
from openai_test_server import Behaviour, OpenAITestServer

pytestmark = pytest.mark.timeout(120)


def _run(url, tmp_path, *, load=None, server=None, slo=None, **top):
    data = {
        "model": "random:tiny-llama",
        "backend": "server",
        "server": {"url": url, **(server or {})},
        "n_prompts": 8,
        "max_input_tokens": 16,
        "max_output_tokens": 6,
        "output_dir": str(tmp_path),
        "measurement": {"energy_sampler": "none"},
        "load": {"request_rate": 100.0, "warmup_s": 0.3, "n_requests": 12, "cooldown_s": 0.0, **(load or {})},
        **top,
    }
    if slo is not None:
        data["slo"] = slo
    plugins = get_plugin_manager()
    return run_experiments(load_experiment(data, plugins=plugins), plugins=plugins)


def test_a_healthy_server_gives_consistent_serving_metrics(tmp_path):
    with OpenAITestServer() as srv:
        (r,) = _run(srv.url, tmp_path)
    assert r.status == "ok", r.error
    sv, m = r.metrics.serving, r.metrics
    assert sv.n_sent == 12 and sv.n_failed == 0  # the window closes after exactly n_requests
    assert sv.offered_rate_per_s == 100.0 and sv.achieved_rate_per_s > 0
    assert sv.output_length == "fixed"
    assert m.n_requests == sv.n_completed
    assert m.requests_per_s == pytest.approx(sv.n_completed / r.timings.window_s)
    assert sv.goodput_requests_per_s == pytest.approx(m.requests_per_s)  # no SLO: every completion is good
    assert m.ttft_s.n == 12 and m.e2e_s.n == 12 and sv.tpot_s.n == 12 and m.itl_s.n == 12 * 5
    assert 0 < m.ttft_s.p50 <= m.e2e_s.p50
    assert m.input_tokens == 16 * sv.n_completed  # from the server's usage: synthetic prompts of 16 ids
    # energy: never a zero, always a reason
    assert r.energy.measured is False and "energy_sampler" in r.energy.not_measured_reason
    assert sv.energy_per_request_j is None and m.energy_per_output_token_j is None
    saved = json.loads((tmp_path / r.experiment_id / "result.json").read_text())
    assert saved["metrics"]["serving"]["n_sent"] == 12


def test_requests_carry_fixed_length_streaming_and_sampling_fields(tmp_path):
    with OpenAITestServer() as srv:
        _run(srv.url, tmp_path, decoder={"preset": "deterministic"}, passthrough_kwargs={"user": "llem"})
        body = srv.behaviour.bodies[-1]
    assert body["model"] == "test-model"  # learnt from /v1/models
    assert body["max_tokens"] == 6 and body["min_tokens"] == 6 and body["ignore_eos"] is True
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.0 and body["user"] == "llem"
    assert isinstance(body["prompt"], list) and len(body["prompt"]) == 16


def test_fixed_length_fields_can_be_left_out_for_strict_servers(tmp_path):
    with OpenAITestServer() as srv:
        _run(srv.url, tmp_path, server={"fixed_length_params": [], "return_token_ids": False})
        body = srv.behaviour.bodies[-1]
    assert "min_tokens" not in body and "ignore_eos" not in body and "return_token_ids" not in body


def test_http_500s_are_failed_requests_not_a_failed_run(tmp_path):
    with OpenAITestServer(Behaviour(fail_every=3)) as srv:
        (r,) = _run(srv.url, tmp_path, slo={"e2e_ms": 60000})
    sv = r.metrics.serving
    assert r.status == "ok"
    assert sv.n_failed >= 3 and sv.n_sent == 12
    assert sv.n_good <= sv.n_completed and sv.n_good > 0  # failed requests are never good
    assert r.metrics.ttft_s.n == sv.n_sent - sv.n_failed
    assert any("HTTP 500" in n and "injected failure" in n for n in r.notes)


def test_dropped_streams_are_failed_requests(tmp_path):
    with OpenAITestServer(Behaviour(drop_every=2)) as srv:
        (r,) = _run(srv.url, tmp_path)
    assert r.status == "ok" and r.metrics.serving.n_failed >= 5
    assert any("stream dropped after 2 tokens" in n for n in r.notes)


def test_stalled_streams_time_out_and_nothing_hangs(tmp_path):
    with OpenAITestServer(Behaviour(stall_every=2)) as srv:
        (r,) = _run(srv.url, tmp_path, load={"request_timeout_s": 0.5})
    assert r.status == "ok" and r.metrics.serving.n_failed >= 5
    assert any("timed out after 0.5 s (load.request_timeout_s)" in n for n in r.notes)


def test_a_tight_slo_gives_zero_goodput_not_a_missing_one(tmp_path):
    with OpenAITestServer() as srv:
        (r,) = _run(srv.url, tmp_path, slo={"ttft_ms": 0.001})
    sv = r.metrics.serving
    assert sv.n_completed > 0 and sv.n_good == 0 and sv.goodput_requests_per_s == 0.0
    assert sv.slo == {"ttft_ms": 0.001}


def test_closed_loop_keeps_max_concurrency_users_busy(tmp_path):
    with OpenAITestServer() as srv:
        (r,) = _run(
            srv.url, tmp_path, load={"arrival": "closed-loop", "max_concurrency": 3, "request_rate": None}
        )
    sv = r.metrics.serving
    assert r.status == "ok" and sv.n_sent == 12 and sv.offered_rate_per_s is None and sv.max_concurrency == 3


def test_a_rate_list_gives_one_result_per_rate_from_one_server(tmp_path):
    with OpenAITestServer() as srv:
        results = _run(srv.url, tmp_path, load={"request_rate": [100.0, 300.0]})
    assert [r.metrics.serving.offered_rate_per_s for r in results] == [100.0, 300.0]
    assert [r.config["load"]["request_rate"] for r in results] == [100.0, 300.0]
    assert len({r.experiment_id for r in results}) == 2
    assert all((tmp_path / r.experiment_id / "result.json").is_file() for r in results)


def test_chat_api_counts_tokens_not_the_role_announcement(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"question number {i}\n" for i in range(8)))
    with OpenAITestServer() as srv:
        (r,) = _run(
            srv.url, tmp_path, server={"api": "chat"}, prompts={"source": "file", "path": str(prompts)}
        )
        body = srv.behaviour.bodies[-1]
    assert body["messages"][0]["role"] == "user"
    assert r.status == "ok" and r.metrics.serving.output_length == "fixed"


def test_no_server_at_the_url_fails_the_run_with_the_reason(tmp_path):
    from openai_test_server import free_port

    (r,) = _run(f"http://127.0.0.1:{free_port()}", tmp_path)
    assert r.status == "failed" and "no server answers at" in r.error and "start_command" in r.error
    assert (tmp_path / r.experiment_id / "result.json").is_file()


def test_constant_arrivals_are_sent_at_the_offered_rate(tmp_path):
    with OpenAITestServer() as srv:
        (r,) = _run(srv.url, tmp_path, load={"arrival": "constant", "request_rate": 50.0, "n_requests": 25})
    sv = r.metrics.serving
    assert sv.n_sent == 25
    # 25 gaps of 20 ms: the window lasts about 0.5 s (a generous band: the box may be loaded, not bursting)
    assert 0.6 * 50 < sv.achieved_rate_per_s < 1.4 * 50


def test_a_server_failing_everything_stops_the_run_instead_of_spinning(tmp_path):
    with OpenAITestServer(Behaviour(fail_every=1)) as srv:
        (r,) = _run(
            srv.url,
            tmp_path,
            load={"arrival": "closed-loop", "max_concurrency": 4, "request_rate": None, "n_requests": None,
                  "duration_s": 600.0},
        )  # fmt: skip
    assert r.status == "failed"
    assert "requests failed in a row (last: HTTP 500" in r.error
    assert len(srv.behaviour.bodies) < 300  # stopped after 200 failures, not after 600 s of them


def test_max_concurrency_caps_open_loop_load_and_the_shortfall_is_noted(tmp_path):
    with OpenAITestServer(Behaviour(token_gap_s=0.01)) as srv:  # each request takes at least 60 ms
        (r,) = _run(srv.url, tmp_path, load={"request_rate": 200.0, "max_concurrency": 1})
    sv = r.metrics.serving
    assert sv.max_concurrency == 1 and sv.n_sent == 12
    assert sv.achieved_rate_per_s < 0.5 * 200.0  # one in flight at a time: at most ~17 requests/s
    assert any("below the offered 200/s (max_concurrency reached" in n for n in r.notes)
