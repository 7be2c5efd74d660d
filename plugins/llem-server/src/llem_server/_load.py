"""The load driver: warm-up, the measured window, cool-down and drain, for open- and closed-loop arrivals.

Runs one asyncio event loop for the whole run. The window is opened and closed through the core's
ServingWindow (from a worker thread: an edge read may block up to one counter period). Every request is
bounded by load.request_timeout_s, and the run by its phases: nothing waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import aiohttp
from llem.plugins.types import BatchOutput, RequestOutput

from llem_server._arrivals import arrival_times
from llem_server._request import stream_request

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.config.serving import LoadConfig
    from llem.plugins.types import Batch, Prompt, ServingWindow

    from llem_server._handle import ServerHandle


# Sends one request of a phase, arriving at a time; each request's task and its arrival.
_Send = Callable[[str, float], Coroutine[Any, Any, RequestOutput]]
_Tasks = dict["asyncio.Task[RequestOutput]", float]

# Requests failing in a row after which the run stops: the server is down or refusing everything, and a
# closed loop would otherwise spin through failures as fast as it can send.
MAX_CONSECUTIVE_FAILURES = 200


class ServerFailing(RuntimeError):
    """Every recent request failed: the run stops rather than measure a server that does not answer."""


class Phases:
    """The run's phase (warmup → window → cooldown → stop), switched by time or by a count of requests."""

    def __init__(self, load: LoadConfig, window: ServingWindow, start: float) -> None:
        self.load = load
        self.window = window
        self.start = start  # perf_counter when the load began: warm-up is measured from here
        self.phase = "warmup"
        self.sent_in_window = 0
        self.opened_at: float | None = None
        self.closed_at: float | None = None
        self.changed = asyncio.Event()  # set at every phase change (wakes the timer and closed-loop users)
        self._lock = asyncio.Lock()
        self.failures_in_a_row = 0
        self.last_error: str | None = None

    def record(self, out: RequestOutput) -> RequestOutput:
        """Count consecutive failures (a success resets the count)."""
        if out.error is None:
            self.failures_in_a_row = 0
        else:
            self.failures_in_a_row += 1
            self.last_error = out.error
        return out

    async def _to(self, phase: str) -> None:
        if phase == "window":
            await asyncio.to_thread(self.window.open)
        elif phase == "cooldown":
            await asyncio.to_thread(self.window.close)
            self.closed_at = time.perf_counter()
        self.phase = phase
        self.changed.set()
        self.changed = asyncio.Event()

    async def advance(self) -> None:
        """Switch phase when its time (or, in the window, its request count) has come."""
        async with self._lock:
            now = time.perf_counter()
            if self.phase == "warmup" and now - self.start >= self.load.warmup_s:
                await self._to("window")
                self.opened_at = time.perf_counter()
            window_s = self.load.window_s()
            if self.phase == "window":
                full = self.load.n_requests is not None and self.sent_in_window >= self.load.n_requests
                assert self.opened_at is not None  # set on entering the window
                elapsed = time.perf_counter() - self.opened_at
                if full or (window_s is not None and elapsed >= window_s):
                    await self._to("cooldown")
            if self.phase == "cooldown":
                assert self.closed_at is not None  # set on entering the cool-down
                if time.perf_counter() - self.closed_at >= self.load.cooldown_s:
                    await self._to("stop")

    async def claim(self) -> tuple[str, float]:
        """The phase a request about to be sent belongs to ("stop": send nothing more), and its arrival time.

        The arrival is stamped here, under the lock, so a request claimed for the window arrives between the
        window's open and close edges, whenever its task first runs.
        """
        if self.failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
            raise ServerFailing(
                f"{self.failures_in_a_row} requests failed in a row (last: {self.last_error}); load stopped"
            )
        await self.advance()
        async with self._lock:
            if self.phase == "window":
                self.sent_in_window += 1
            return self.phase, time.perf_counter()

    def next_deadline(self) -> float | None:
        """When the next time-based switch is due (perf_counter), or None if it waits on a request count."""
        if self.phase == "warmup":
            return self.start + self.load.warmup_s
        if self.phase == "window":
            window_s = self.load.window_s()
            assert self.opened_at is not None
            return self.opened_at + window_s if window_s is not None else None
        if self.phase == "cooldown":
            assert self.closed_at is not None
            return self.closed_at + self.load.cooldown_s
        return None

    async def timer(self) -> None:
        """Make time-based switches on time even when no request is being sent."""
        while self.phase != "stop":
            deadline = self.next_deadline()
            changed = self.changed
            timeout = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
            await self.advance()


class Prompts:
    """Cycles the measured prompts for window requests and the warm-up prompts for the others."""

    def __init__(self, measured: list[Prompt], warmup: list[Prompt]) -> None:
        self.measured, self.warmup = measured, warmup or measured
        self.n_measured = self.n_other = 0

    def next(self, phase: str) -> Prompt:
        if phase == "window":
            self.n_measured += 1
            return self.measured[(self.n_measured - 1) % len(self.measured)]
        self.n_other += 1
        return self.warmup[(self.n_other - 1) % len(self.warmup)]


async def _drive(handle: ServerHandle, batch: Batch, config: ExperimentBase, t0: float) -> BatchOutput:
    load = config.load
    assert load is not None and batch.window is not None
    prompts = Prompts(batch.prompts, batch.warmup_prompts)
    url = handle.base_url.rstrip("/") + handle.fmt.path
    tasks: _Tasks = {}
    limit = load.max_concurrency or 0
    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(phase: str, arrival: float) -> RequestOutput:
            out = await stream_request(
                session,
                url,
                handle.fmt,
                prompts.next(phase),
                t0=t0,
                sent=arrival,
                timeout_s=load.request_timeout_s,
            )
            return phases.record(out)

        # The schedule starts now, with the session ready: arrivals due while the client was still starting
        # (imports, the event loop) would otherwise all be sent at once, a burst the process never asked for.
        start = time.perf_counter()
        phases = Phases(load, batch.window, start)
        timer = asyncio.create_task(phases.timer())
        try:
            if load.arrival == "closed-loop":
                await _closed_loop(phases, one, load.max_concurrency or 1, tasks)
            else:
                await _open_loop(phases, one, load, batch.seed, start, tasks)
            # Drain: every request is bounded by its own timeout; this bound only guards against a bug.
            if tasks:
                await asyncio.wait(tasks, timeout=load.request_timeout_s + 5.0)
        finally:
            timer.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(timer, *tasks, return_exceptions=True)
    outputs = []
    for task, arrival in tasks.items():
        if task.cancelled():  # still unfinished after the drain: a failed request, never a lost one
            outputs.append(
                RequestOutput(
                    input_tokens=0,
                    output_tokens=0,
                    arrival_s=arrival - t0,
                    error="unfinished after the drain",
                )
            )
        elif (
            exc := task.exception()
        ) is not None:  # stream_request turns request failures into errors: a bug
            raise exc
        else:
            outputs.append(task.result())
    notes = list(handle.notes)
    if prompts.n_measured > len(prompts.measured):
        notes.append(
            f"{prompts.n_measured} requests in the window cycled through {len(prompts.measured)} prompts "
            "(raise n_prompts to avoid repeats a prefix cache may serve)"
        )
    return BatchOutput(requests=outputs, timing_source="client stream (SSE chunk arrival)", notes=notes)


async def _open_loop(
    phases: Phases, one: _Send, load: LoadConfig, seed: int, start: float, tasks: _Tasks
) -> None:
    assert load.request_rate is not None and not isinstance(load.request_rate, list)
    sem = asyncio.Semaphore(load.max_concurrency) if load.max_concurrency else None
    for due in arrival_times(
        load.arrival, load.request_rate, load.seed if load.seed is not None else seed, load.burstiness
    ):
        while (delay := start + due - time.perf_counter()) > 0 and phases.phase != "stop":
            changed = phases.changed
            # sleep until the arrival, waking at a phase change (a stop must not wait for a sparse arrival)
            try:
                await asyncio.wait_for(changed.wait(), delay)
            except TimeoutError:
                break
        if sem is not None:
            await sem.acquire()
        phase, arrival = await phases.claim()
        if phase == "stop":
            if sem is not None:
                sem.release()
            return
        task = asyncio.create_task(one(phase, arrival))
        if sem is not None:
            task.add_done_callback(lambda _t: sem.release())
        tasks[task] = arrival


async def _closed_loop(phases: Phases, one: _Send, users: int, tasks: _Tasks) -> None:
    async def user() -> None:
        while True:
            phase, arrival = await phases.claim()
            if phase == "stop":
                return
            task = asyncio.create_task(one(phase, arrival))
            tasks[task] = arrival
            await asyncio.wait([task])

    await asyncio.gather(*(user() for _ in range(users)))


def serve(handle: ServerHandle, batch: Batch, config: ExperimentBase) -> BatchOutput:
    """Run the serving load of `config.load` against `handle` (the core's serving generate contract: request
    times on the core's clock, from `batch.window.t0_s`)."""
    if batch.window is None:
        raise ValueError("serve needs a serving batch (batch.window): the config has no load section")
    return asyncio.run(_drive(handle, batch, config, batch.window.t0_s))
