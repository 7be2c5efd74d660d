"""Counter reads at the prefill/decode boundary of each batch, taken off the generate thread.

`Batch.mark_first_token` only enqueues a request; a worker thread makes the counter read (an NVML read costs
~4 ms, made without the GIL). The generate path therefore pays microseconds, not milliseconds, per mark. A
read lands a fraction of a millisecond after the request, far inside the counter's own ~100 ms update period.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llem.measure.energy import EnergyMeter, EnergyReading


@dataclass
class BatchMarks:
    """Readings around one batch: its first token (None if the backend never called the mark) and its end."""

    first_token_t_s: float | None = None
    first_token: EnergyReading | None = None
    end: EnergyReading | None = None


@dataclass
class PhaseReader:
    """Reads `meter` in a worker thread whenever a batch marks its first token or ends."""

    meter: EnergyMeter | None
    marks: dict[int, BatchMarks] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[int, str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if self.meter is not None:
            self._thread = threading.Thread(target=self._work, name="llem-phase-reads", daemon=True)
            self._thread.start()

    def mark_callback(self, batch_index: int):
        """The `mark_first_token` callable for batch `batch_index` (only its first call counts)."""

        def mark() -> None:
            entry = self.marks.setdefault(batch_index, BatchMarks())
            if entry.first_token_t_s is not None:
                return
            entry.first_token_t_s = time.perf_counter()
            if self._thread is not None:
                self._queue.put((batch_index, "first"))

        return mark

    def batch_ended(self, batch_index: int) -> None:
        """Read the counter at the end of a batch that marked its first token (the next batch's start)."""
        entry = self.marks.get(batch_index)
        if self._thread is not None and entry is not None and entry.first_token_t_s is not None:
            self._queue.put((batch_index, "end"))

    def close(self) -> None:
        """Finish every pending read, then stop the worker."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _work(self) -> None:
        assert self.meter is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            index, kind = item
            try:
                reading = self.meter.read()
            except Exception as exc:  # a failing read loses the split, not the run
                self.errors.append(f"counter read at batch {index} {kind} failed: {exc}")
                continue
            entry = self.marks.setdefault(index, BatchMarks())
            if kind == "first":
                entry.first_token = reading
            else:
                entry.end = reading


def measured_split(
    marks: dict[int, BatchMarks], n_batches: int, start: EnergyReading, end: EnergyReading
) -> tuple[float, float] | None:
    """(prefill_j, decode_j) summed over batches, or None unless every batch has its boundary reading.

    Batch k's prefill runs from the previous batch's end reading (the window's start edge for k = 0) to its
    first-token reading; its decode from there to its end reading (the window's end edge for the last batch).
    """
    prefill = decode = 0.0
    previous = start
    for k in range(n_batches):
        entry = marks.get(k)
        if entry is None or entry.first_token is None:
            return None
        batch_end = end if k == n_batches - 1 else entry.end
        if batch_end is None:
            return None
        prefill += entry.first_token.total_j - previous.total_j
        decode += batch_end.total_j - entry.first_token.total_j
        previous = batch_end
    return prefill, decode
