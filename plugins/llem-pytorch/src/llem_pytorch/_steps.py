"""Per-step timestamps of a `generate` call, taken with negligible cost from inside transformers' decode loop.

transformers calls every logits processor once per decoding step, right after the step's logits exist. On a
GPU the clock records a CUDA event there (asynchronous: no host-device synchronisation per step) and
converts all events to seconds once, after generate returns; on the CPU, where the work is synchronous, it
reads perf_counter.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import torch
from transformers import LogitsProcessor


def _signature(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError  # only its signature is used


_CALL_SIGNATURE = inspect.signature(_signature)


class StepClock(LogitsProcessor):
    """A pass-through logits processor that timestamps each step (no host-device synchronisation).

    Reuse one clock per model: `start()` before each generate call, `times_s()` after it.
    """

    def __init__(self, device: torch.device, capacity: int = 256) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.n_calls = 0
        self._t0 = 0.0
        self._start_offset_s = 0.0
        self._host: list[float] = []
        if self.cuda:
            self._start = torch.cuda.Event(enable_timing=True)
            self._events = [torch.cuda.Event(enable_timing=True) for _ in range(capacity)]
            self._stream: Any = None

        # transformers' LogitsProcessorList runs inspect.signature(processor.__call__) on every processor at
        # every step: ~13 µs for a bound method on a slow core, most of the clock's cost. An instance
        # attribute shadows the method for that lookup: a plain function carrying a precomputed __signature__
        # (~1 µs). Calls still go through the class's __call__; the function forwards to it for anyone calling
        # clock.__call__ directly.
        def call(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            return StepClock.__call__(self, input_ids, scores)

        # inspect reads __signature__ off any function; typeshed does not declare the attribute
        call.__signature__ = _CALL_SIGNATURE  # type: ignore[attr-defined]
        self.__dict__["__call__"] = call

    def start(self, t0: float) -> None:
        """Begin a generate call; `t0` is the host perf_counter the returned times are relative to."""
        self.n_calls = 0
        self._t0 = t0
        if self.cuda:
            self._stream = torch.cuda.current_stream(self.device)
            self._start.record(self._stream)
            self._start_offset_s = time.perf_counter() - t0
        else:
            self._host = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        n = self.n_calls
        self.n_calls = n + 1
        if self.cuda:
            if n >= len(self._events):
                # Longer than planned (e.g. a passthrough max_new_tokens): grow, rarely.
                self._events.extend(torch.cuda.Event(enable_timing=True) for _ in range(len(self._events)))
            self._events[n].record(self._stream)
        else:
            self._host.append(time.perf_counter())
        return scores

    def times_s(self) -> list[float]:
        """Seconds from `t0` to each step's logits, for the steps of the last generate call."""
        n = self.n_calls
        if not self.cuda:
            return [t - self._t0 for t in self._host[:n]]
        if n == 0:
            return []
        self._events[n - 1].synchronize()
        # The start event was recorded on an idle stream (the previous batch ended with a sync), so it ran
        # when it was recorded: device time since it plus the host time before it is time since t0.
        off = self._start_offset_s
        return [off + self._start.elapsed_time(e) / 1000.0 for e in self._events[:n]]
