"""The measured window of a serving run: the backend drives the load and opens/closes the window.

The backend's generate call sends warm-up load, calls `window.open()`, sends the measured load, calls
`window.close()`, keeps the load on for the cool-down and drains. The core reads the energy counter
and its clock inside those two calls with the same edge method as an offline window (an aligned start edge
moved to the window's start, an interpolated end edge), so the energy is the counter difference over the
steady state only, with the same meters and bounds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from llem.measure.energy import at_time
from llem.plugins.contract import EngineT, HandleT
from llem.plugins.types import Batch, BatchOutput, ServingWindow

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.measure.energy import EnergyMeter
    from llem.plugins.manager import Backend
    from llem.plugins.types import Prompt
    from llem.run.lifecycle import WindowRecord


def rate_points(config: ExperimentBase) -> list[ExperimentBase]:
    """One config per request rate of `config.load` (itself when there is one rate or no load section)."""
    if config.load is None or not isinstance(config.load.request_rate, list):
        return [config]
    return [
        msgspec.structs.replace(config, load=msgspec.structs.replace(config.load, request_rate=rate))
        for rate in config.load.request_rate
    ]


class WindowEdges:
    """The ServingWindow handed to the backend: records the window's clock and energy edges in `rec`."""

    def __init__(self, rec: WindowRecord, meter: EnergyMeter, start_sampler: Callable[[], Any]) -> None:
        self._rec = rec
        self._meter = meter
        self._start_sampler = start_sampler
        self._lock = threading.Lock()
        self.sampler: Any = None
        self.opened = self.closed = False

    def open(self) -> None:
        with self._lock:
            if self.opened:
                raise RuntimeError("ServingWindow.open() called twice")
            self.opened = True
            self.sampler = self._start_sampler()
            edge = self._meter.read_edge() if self._meter.available else None
            self._rec.start_s = time.perf_counter()
            if edge is not None:  # the aligned edge, moved to the window's own start (as offline windows do)
                self._rec.edge_start = at_time(edge, self._rec.start_s)

    def close(self) -> None:
        with self._lock:
            if not self.opened or self.closed:
                raise RuntimeError("ServingWindow.close() called before open() or twice")
            self.closed = True
            self._rec.end_s = time.perf_counter()
            if self._rec.edge_start is not None:
                self._rec.edge_end = self._meter.window_end(self._rec.edge_start, self._rec.end_s)
            self.stop_sampler()

    def stop_sampler(self) -> None:
        """Stop the telemetry sampler (at the window's close, or after a failure)."""
        if self.sampler is not None:
            self._rec.samples = list(self.sampler.stop())
            if self.sampler.error:
                self._rec.telemetry_note = self.sampler.error
            self.sampler = None

    def handle(self, t0_s: float) -> ServingWindow:
        return ServingWindow(open=self.open, close=self.close, t0_s=t0_s)


def run_serving_window(
    backend: Backend[HandleT, EngineT],
    handle: HandleT,
    config: ExperimentBase,
    prompts: list[Prompt],
    warmup_prompts: list[Prompt],
    rec: WindowRecord,
    meter: EnergyMeter,
    start_sampler: Callable[[], Any],
) -> None:
    """Run the backend's load once; fill `rec` (outputs, window times on the generate call's axis, edges)."""
    edges = WindowEdges(rec, meter, start_sampler)
    t0 = time.perf_counter()
    batch = Batch(
        prompts=prompts,
        max_new_tokens=config.max_output_tokens,
        fixed_output_length=config.fixed_output_length,
        index=0,
        phase="measure",
        seed=config.random_seed,
        window=edges.handle(t0),
        warmup_prompts=warmup_prompts,
    )
    try:
        out = backend.generate(handle, batch, config)
    finally:
        edges.stop_sampler()
    if not isinstance(out, BatchOutput):
        raise TypeError(
            f"backend {config.backend!r} returned {type(out).__name__} from generate, not BatchOutput"
        )
    if not edges.closed:
        raise RuntimeError(
            f"backend {config.backend!r} returned from a serving run without opening and closing the window"
        )
    rec.outputs.append(out)
    rec.durations_s.append(rec.end_s - rec.start_s)
    # Requests report times from the generate start; the window on the same axis:
    rec.serving_window = (rec.start_s - t0, rec.end_s - t0)
