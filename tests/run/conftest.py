"""Test doubles for the lifecycle: a fake backend and a fake energy meter.

TEST DOUBLES, clearly: `FakeBackend` is a test-only backend plugin (it sleeps instead of running a model) so
the lifecycle's control flow — batching, warm-up, phase marks, failures — can be driven exactly; the real
PyTorch backend is exercised end to end in test_cli_run.py. `FakeMeter` stands in for a GPU energy counter,
which cannot exist in CI (no GPU here): it integrates a known power model (idle power, plus extra power while
the fake backend is generating) and quantises the counter to a chosen update period, like NVML's ~100 ms
counter.

Time is fake (`FakeClock`): it moves only when the fake backend or meter "sleeps", so no outcome depends on
how loaded the machine is. The lifecycle's own clock reads (window edges, warm-up latencies, prefill passes,
the idle-baseline wait) are pointed at the same clock by patching the `time` name of those modules.
"""

# No `from __future__ import annotations` here: msgspec resolves a Struct's string annotations through its
# module's globals, and pytest imports several files as the module `conftest`, so the names
# could be another's.

import math
from typing import Annotated

import llem.measure.baseline
import llem.run.lifecycle
import llem.run.prefill
import llem.run.warmup
import pytest
from llem.config import Section
from llem.config.resolve import load_experiment
from llem.measure.energy import EnergyMeter, EnergyReading
from llem.plugins import BatchOutput, Capabilities, RequestOutput, hookimpl
from msgspec import Meta


class FakeSection(Section):
    """Test-only backend section."""

    batch_size: Annotated[Annotated[int, Meta(ge=1)] | None, Meta(description="Prompts per batch.")] = None


class FakeClock:
    """Test time that moves only through sleep(): the same for the fake backend, the fake meter and the
    lifecycle, so every duration, energy and convergence decision is exact and repeatable."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def perf_counter(self) -> float:
        return self.now

    monotonic = perf_counter

    def sleep(self, dt: float) -> None:
        self.now += max(0.0, dt)


class Busy:
    """Wall-clock intervals during which the fake backend was generating (shared with FakeMeter)."""

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float]] = []
        self.open_since: float | None = None

    def busy_time(self, t: float) -> float:
        total = sum(max(0.0, min(b, t) - a) for a, b in self.intervals if a < t)
        if self.open_since is not None and self.open_since < t:
            total += t - self.open_since
        return total


class FakeBackend:
    """A test-only backend plugin: each request 'prefills' for prefill_s, then 'decodes' step_s per token."""

    def __init__(
        self,
        *,
        clock,
        prefill_s=0.002,
        step_s=0.0005,
        fail_at=None,
        busy=None,
        latencies=None,
        continuous=False,
        cache_prefill=False,
        extra_s=None,
        out_tokens=None,
    ):
        self.clock = clock
        self.extra_s = dict(extra_s or {})  # measured batch index -> extra seconds (a disturbed batch)
        self.out_tokens = out_tokens  # tokens each request returns (None: max_new_tokens, as asked)
        self.prefill_s = prefill_s
        self.step_s = step_s
        self.continuous = continuous  # declares continuous batching (prefill and decode overlap)
        self.cache_prefill = cache_prefill  # prefill-only passes report their prompts as prefix-cache hits
        self.fail_at = fail_at  # (phase, batch index) at which generate raises
        self.busy = busy or Busy()
        self.latencies = list(latencies or [])  # scripted warm-up latencies (seconds), consumed in order
        self.seen: list[tuple[str, int, list]] = []
        self.loaded = self.unloaded = 0

    @hookimpl
    def llem_register_backends(self, register):
        register.add_backend("fake", config=FakeSection, description="Test-only fake backend.")

    @hookimpl
    def llem_load(self, config, engine):
        self.loaded += 1
        return {"model": config.model}

    @hookimpl
    def llem_unload(self, handle):
        self.unloaded += 1

    @hookimpl
    def llem_capabilities(self):
        return Capabilities(
            precisions=("fp32", "fp16", "bf16"),
            decoding_strategies=("greedy", "sampling"),
            decoder_params=("temperature", "do_sample", "top_k", "top_p", "repetition_penalty"),
            runs_on_cpu=True,
            continuous_batching=self.continuous,
        )

    @hookimpl
    def llem_generate(self, handle, batch, config):
        self.seen.append((batch.phase, batch.index, list(batch.prompts)))
        if self.fail_at == (batch.phase, batch.index):
            raise RuntimeError("fake backend exploded mid-window")
        t0 = self.clock.perf_counter()
        self.busy.open_since = t0
        try:
            if batch.phase == "warmup" and self.latencies:
                self.clock.sleep(self.latencies.pop(0))
                n_out = batch.max_new_tokens
                return BatchOutput(
                    requests=[
                        RequestOutput(input_tokens=len(p.token_ids or []), output_tokens=n_out)
                        for p in batch.prompts
                    ],
                    timing_source="fake",
                )
            self.clock.sleep(self.prefill_s)
            ttft = self.clock.perf_counter() - t0
            n_out = self.out_tokens or batch.max_new_tokens
            self.clock.sleep(self.step_s * (n_out - 1))
            if batch.phase == "measure":
                self.clock.sleep(self.extra_s.get(batch.index, 0.0))
            e2e = self.clock.perf_counter() - t0
        finally:
            self.busy.intervals.append((t0, self.clock.perf_counter()))
            self.busy.open_since = None
        itl = (e2e - ttft) / max(n_out - 1, 1)
        return BatchOutput(
            requests=[
                RequestOutput(
                    input_tokens=len(p.token_ids or []),
                    output_tokens=n_out,
                    ttft_s=ttft,
                    e2e_s=e2e,
                    itl_s=[itl] * (n_out - 1),
                    cached_input_tokens=len(p.token_ids or [])
                    if self.cache_prefill and batch.phase == "prefill"
                    else None,
                )
                for p in batch.prompts
            ],
            timing_source="fake_sleep",
        )


class FakeMeter(EnergyMeter):
    """A fake GPU energy counter (see the module docstring): idle_w, plus busy_extra_w while generating."""

    name = "nvml"
    scope = "gpu"
    available = True

    def __init__(self, busy: Busy, clock: FakeClock, *, idle_w=100.0, busy_extra_w=200.0, period_s=0.1):
        super().__init__()
        self.busy = busy
        self.clock = clock
        self.idle_w = idle_w
        self.busy_extra_w = busy_extra_w
        self.update_period_s = period_s
        self.read_cost_s = 0.0
        self.devices = ("fake-gpu-0",)
        self.t0 = clock.perf_counter()
        self.closed = False

    def _energy_at(self, t: float) -> float:
        return self.idle_w * (t - self.t0) + self.busy_extra_w * self.busy.busy_time(t)

    def _last_update(self, t: float) -> float:
        return self.t0 + math.floor((t - self.t0) / self.update_period_s) * self.update_period_s

    def read(self) -> EnergyReading:
        t = self.clock.perf_counter()
        return EnergyReading(t_s=t, joules=(self._energy_at(self._last_update(t)),))

    def read_edge(self, *, end: bool = False) -> EnergyReading:
        # Both edges: the reading right after the next update (a meter without instantaneous power).

        now = self.clock.perf_counter()
        nxt = self._last_update(now) + self.update_period_s
        self.clock.sleep(max(0.0, nxt - now) + 1e-4)
        return EnergyReading(t_s=nxt, joules=(self._energy_at(nxt),), edge_power_w=self.idle_w)

    def close(self) -> None:
        self.closed = True


BASE = {
    "model": "random:tiny-llama",
    "backend": "fake",
    "precision": "fp32",
    "n_prompts": 8,
    "max_input_tokens": 8,
    "max_output_tokens": 4,
    "measurement": {"warmup_batches": 1, "baseline": "fresh", "baseline_duration_s": 0.2},
    "fake": {"batch_size": 2},
}


@pytest.fixture
def fake_run(register_plugin, tmp_path, monkeypatch):
    """make(overrides, meter=None|dict, **backend_kwargs) -> (config, plugins, backend, output folder)."""

    clock = FakeClock()
    fake_time = type("FakeTime", (), {})()
    fake_time.perf_counter = fake_time.monotonic = clock.perf_counter
    fake_time.sleep = clock.sleep
    for module in (llem.run.lifecycle, llem.run.warmup, llem.run.prefill, llem.measure.baseline):
        monkeypatch.setattr(module, "time", fake_time)

    def make(overrides=(), meter=None, **backend_kwargs):
        backend = FakeBackend(clock=clock, **backend_kwargs)
        plugins = register_plugin(backend, "fake")
        config = load_experiment(BASE, overrides=list(overrides), plugins=plugins)
        if meter is not None:
            fake = FakeMeter(backend.busy, clock, **meter)
            monkeypatch.setattr("llem.run.lifecycle.open_meter", lambda mc, device, gpu_indices=None: fake)
            backend.meter = fake
        monkeypatch.setenv("LLEM_CACHE_DIR", str(tmp_path / "cache"))
        return config, plugins, backend, tmp_path / "results"

    return make
