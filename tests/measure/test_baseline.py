"""Idle baseline: measurement from the energy counter, cache with TTL, re-validation on drift.

The GPU is absent in CI: the meter reads a fake pynvml replaying recorded H100 traces (see nvml_replay.py).
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from llem.config.measurement import MeasurementConfig
from llem.measure.baseline import baseline_key, idle_baseline, measure_idle
from llem.measure.energy import EnergyNotMeasured, NoneMeter
from llem.measure.nvml_meter import NvmlMeter
from nvml_replay import Trace, synthetic_trace

STATE = "model loaded, CUDA context alive"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path))
    return tmp_path / "baselines.json"


def test_idle_power_is_measured_from_the_counter(trace: Trace, replay) -> None:
    _fake, clock = replay([trace], start_s=0.3)
    meter = NvmlMeter([0])
    _a, _ = trace.phase("idle")
    b = measure_idle(meter, 3.0, state=STATE)
    truth_w = trace.true_energy_j(clock.t - b.duration_s, clock.t) / b.duration_s
    assert b.duration_s == pytest.approx(3.0, abs=2 * trace.period_s)
    assert abs(b.power_w - truth_w) <= b.bound_w
    assert b.bound_w < 0.2 * b.power_w
    assert (b.source, b.state, b.meter, len(b.per_device_w)) == ("fresh", STATE, "nvml", 1)
    datetime.fromisoformat(b.measured_at)  # ISO 8601


def cached_setup(replay, **fields):
    """The fake counter's clock, a meter on it, a cached-baseline config with `fields`, and the cache key."""
    _fake, clock = replay([synthetic_trace()], start_s=0.3)
    mc = MeasurementConfig(baseline="cached", **fields)
    return clock, NvmlMeter([0]), mc, baseline_key(["GPU-synthetic-0"], STATE)


def test_cached_baseline_is_reused_after_a_quick_check(replay, cache) -> None:
    # idle lasts until t = 5 s; recheck 0: every reuse is checked
    clock, meter, mc, key = cached_setup(replay, baseline_duration_s=2.0, baseline_recheck_s=0)
    first = idle_baseline(meter, mc, key, STATE)
    assert first.source == "fresh" and first.power_w == pytest.approx(120.0, rel=0.02)
    assert cache.exists() and not list(cache.parent.glob(".baselines.*"))  # written atomically, no leftovers
    t0 = clock.t
    second = idle_baseline(meter, mc, key, STATE)
    assert second.source == "cached" and second.power_w == first.power_w
    assert second.check_power_w == pytest.approx(120.0, rel=0.05)
    assert clock.t - t0 < 1.5  # a ~1 s check, not another 2 s measurement


def _age_entry(cache, key: str, field: str, seconds: float) -> None:
    stored = json.loads(cache.read_text())
    when = datetime.now(UTC) - timedelta(seconds=seconds)
    stored[f"nvml:{key}"][field] = when.isoformat(timespec="seconds")
    cache.write_text(json.dumps(stored))


def test_a_baseline_confirmed_moments_ago_is_reused_without_reading_the_counter_again(replay, cache) -> None:
    clock, meter, mc, key = cached_setup(replay, baseline_duration_s=2.0, baseline_recheck_s=300)
    first = idle_baseline(meter, mc, key, STATE)
    assert first.checked_at == first.measured_at
    t0 = clock.t
    second = idle_baseline(meter, mc, key, STATE)
    assert clock.t == t0  # no idle time spent: the fake clock only moves when the counter is polled
    assert (second.source, second.power_w, second.check_power_w) == ("cached", first.power_w, None)
    assert second.checked_at == first.measured_at  # the result says what the reuse rests on


def test_a_baseline_confirmed_too_long_ago_is_checked_and_the_check_renews_it(replay, cache) -> None:
    clock, meter, mc, key = cached_setup(replay, baseline_duration_s=1.0, baseline_recheck_s=300)
    first = idle_baseline(meter, mc, key, STATE)
    _age_entry(cache, key, "checked_at", 301)
    t0 = clock.t
    checked = idle_baseline(meter, mc, key, STATE)
    assert clock.t - t0 >= 1.0 and checked.check_power_w == pytest.approx(120.0, rel=0.05)
    assert checked.measured_at == first.measured_at and checked.source == "cached"
    t1 = clock.t
    again = idle_baseline(meter, mc, key, STATE)  # the check counts as a confirmation
    assert clock.t == t1 and again.check_power_w is None


def test_a_recent_check_never_stretches_the_ttl(replay, cache) -> None:
    _clock, meter, mc, key = cached_setup(replay, baseline_duration_s=1.0, baseline_ttl_s=600)
    idle_baseline(meter, mc, key, STATE)
    _age_entry(cache, key, "measured_at", 601)  # checked moments ago, but measured past its TTL
    assert idle_baseline(meter, mc, key, STATE).source == "fresh"


def test_drift_triggers_a_new_measurement(replay, cache) -> None:
    trace = synthetic_trace()
    _fake, clock = replay([trace], start_s=0.3)
    meter = NvmlMeter([0])
    mc = MeasurementConfig(
        baseline="cached", baseline_duration_s=2.0, baseline_tolerance=0.1, baseline_recheck_s=0
    )
    key = baseline_key(["GPU-synthetic-0"], STATE)
    first = idle_baseline(meter, mc, key, STATE)
    clock.t = trace.phase("sustained")[0] + 0.5  # the GPU is no longer at the cached idle power
    again = idle_baseline(meter, mc, key, STATE)
    assert again.source == "fresh" and again.power_w > 2 * first.power_w
    stored = json.loads(cache.read_text())
    assert stored[f"nvml:{key}"]["power_w"] == pytest.approx(again.power_w)


def test_expired_baseline_is_measured_again(replay, cache) -> None:
    _clock, meter, mc, key = cached_setup(replay, baseline_duration_s=1.0, baseline_ttl_s=600)
    idle_baseline(meter, mc, key, STATE)
    stored = json.loads(cache.read_text())
    old = (datetime.now(UTC) - timedelta(seconds=601)).isoformat(timespec="seconds")
    stored[f"nvml:{key}"]["measured_at"] = old
    cache.write_text(json.dumps(stored))
    assert idle_baseline(meter, mc, key, STATE).source == "fresh"
    assert json.loads(cache.read_text())[f"nvml:{key}"]["measured_at"] != old


def test_state_and_devices_key_the_cache(replay, cache) -> None:
    _fake, _clock = replay([synthetic_trace()], start_s=0.3)
    meter = NvmlMeter([0])
    mc = MeasurementConfig(baseline="cached", baseline_duration_s=1.0)
    idle_baseline(meter, mc, baseline_key(["GPU-a"], STATE), STATE)
    other_state = idle_baseline(meter, mc, baseline_key(["GPU-a"], "no CUDA context"), "no CUDA context")
    other_gpu = idle_baseline(meter, mc, baseline_key(["GPU-b"], STATE), STATE)
    assert other_state.source == other_gpu.source == "fresh"
    assert other_state.state == "no CUDA context"
    assert len(json.loads(cache.read_text())) == 3


def test_fresh_always_measures_and_off_gives_none(replay, cache) -> None:
    _fake, _clock = replay([synthetic_trace()], start_s=0.3)
    meter = NvmlMeter([0])
    key = baseline_key(["GPU-a"], STATE)
    idle_baseline(meter, MeasurementConfig(baseline="cached", baseline_duration_s=1.0), key, STATE)
    fresh = idle_baseline(meter, MeasurementConfig(baseline="fresh", baseline_duration_s=1.0), key, STATE)
    assert fresh.source == "fresh" and fresh.check_power_w is None
    assert idle_baseline(meter, MeasurementConfig(baseline="none"), key, STATE) is None


def test_corrupt_cache_is_replaced(replay, cache) -> None:
    _fake, _clock = replay([synthetic_trace()], start_s=0.3)
    cache.write_text("{not json")
    meter = NvmlMeter([0])
    b = idle_baseline(meter, MeasurementConfig(baseline_duration_s=1.0), "k", STATE)
    assert b.source == "fresh" and "nvml:k" in json.loads(cache.read_text())


def test_no_energy_source_has_no_baseline() -> None:
    with pytest.raises(EnergyNotMeasured, match="no GPU here"):
        measure_idle(NoneMeter("no GPU here"), 1.0)


def test_the_cache_key_names_the_host_so_nodes_sharing_a_home_folder_never_reuse_each_others_idle_power(
    replay, cache
):
    _fake, _clock = replay([synthetic_trace()], start_s=0.3)
    meter = NvmlMeter([0])
    mc = MeasurementConfig(baseline="cached", baseline_duration_s=2.0)
    on_a = baseline_key(["GPU-synthetic-0"], STATE, host="node-a")
    on_b = baseline_key(["GPU-synthetic-0"], STATE, host="node-b")
    assert on_a != on_b and on_a.startswith("node-a|GPU-synthetic-0|")
    idle_baseline(meter, mc, on_a, STATE)
    from_b = idle_baseline(meter, mc, on_b, STATE)
    assert from_b.source == "fresh"  # node-a's baseline is not node-b's
    assert set(json.loads(cache.read_text())) == {f"nvml:{on_a}", f"nvml:{on_b}"}
    assert baseline_key(["x"], STATE).startswith(f"{socket.gethostname()}|")
