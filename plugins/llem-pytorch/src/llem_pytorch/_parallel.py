"""Data parallelism (num_processes > 1): worker processes, one GPU each, each running a share of every batch.

Workers are spawned at load (outside the measured window), load their own copy of the model, and wait for
work. For each batch the parent splits the prompts into contiguous shares, waits until every busy worker
has its first token (then marks the prefill/decode boundary once), and joins the results in prompt order.
Times are shifted to the parent's clock: perf_counter is CLOCK_MONOTONIC on Linux, shared by all
processes of the host.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
import traceback
from typing import TYPE_CHECKING, Any

from llem.plugins.types import Batch, BatchOutput, RequestOutput

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from llem.config.experiment import ExperimentBase

_LOAD_TIMEOUT_S = 1800.0


class WorkerError(RuntimeError):
    """A data-parallel worker failed; the message carries its traceback's last line."""


def split(items: list[Any], n: int) -> list[list[Any]]:
    """Contiguous shares of `items` for `n` workers, sizes differing by at most one, in order."""
    base, extra = divmod(len(items), n)
    shares, start = [], 0
    for i in range(n):
        size = base + (1 if i < extra else 0)
        shares.append(items[start : start + size])
        start += size
    return shares


class WorkerPool:
    """N spawned workers holding a model each."""

    def __init__(self, config: ExperimentBase, n: int) -> None:
        from llem.config.resolve import to_dict

        ctx = mp.get_context("spawn")  # fork after CUDA or torch threads is unsafe
        self.n = n
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        self.broken = False
        data = to_dict(config)
        for rank in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_worker_main, args=(child, data, rank, n), daemon=True, name=f"llem-pt-{rank}"
            )
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self.notes: list[str] = []
        for rank, conn in enumerate(self.conns):
            msg = self._recv(rank, conn, timeout=_LOAD_TIMEOUT_S)
            if msg[0] != "ready":
                self.close()
                raise WorkerError(f"data-parallel worker {rank} did not start: {msg}")
            self.notes += [f"worker {rank}: {note}" for note in msg[1]]

    def _recv(self, rank: int, conn: Connection, timeout: float | None = None) -> tuple:
        if timeout is not None and not conn.poll(timeout):
            self.broken = True
            raise WorkerError(f"data-parallel worker {rank} did not answer within {timeout:.0f} s")
        try:
            msg = conn.recv()
        except EOFError as exc:
            self.broken = True
            raise WorkerError(
                f"data-parallel worker {rank} exited (exit code {self.procs[rank].exitcode})"
            ) from exc
        if msg[0] == "error":
            self.broken = True
            raise WorkerError(f"data-parallel worker {rank} failed: {msg[1]}")
        return msg

    def generate(self, batch: Batch) -> BatchOutput:
        if self.broken:
            raise WorkerError("a data-parallel worker failed earlier; the pool cannot run more batches")
        t0 = time.perf_counter()
        shares = split(batch.prompts, self.n)
        busy = [rank for rank, share in enumerate(shares) if share]
        for rank in busy:
            job = (
                shares[rank],
                batch.max_new_tokens,
                batch.fixed_output_length,
                batch.index,
                batch.phase,
                batch.seed,
            )
            self.conns[rank].send(("generate", job))
        requests: list[RequestOutput] = []
        token_ids: list[list[int]] = []
        notes = list(self.notes)
        source = None
        for rank in busy:
            _, output, worker_t0 = self._recv(rank, self.conns[rank])
            shift = worker_t0 - t0
            requests += [_shifted(r, shift) for r in output.requests]
            token_ids += output.output_token_ids or []
            notes += [
                f"worker {rank}: {note}" for note in output.notes if f"worker {rank}: {note}" not in notes
            ]
            source = output.timing_source
        return BatchOutput(
            requests=requests,
            timing_source=f"{source} ({len(busy)} data-parallel workers)",
            notes=notes,
            output_token_ids=token_ids,
        )

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError, BrokenPipeError):
                conn.send(("stop", None))
        for proc in self.procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in self.conns:
            conn.close()


def _shifted(r: RequestOutput, shift: float) -> RequestOutput:
    return RequestOutput(
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        ttft_s=None if r.ttft_s is None else r.ttft_s + shift,
        e2e_s=None if r.e2e_s is None else r.e2e_s + shift,
        itl_s=r.itl_s,
        cached_input_tokens=r.cached_input_tokens,
    )


def _worker_main(conn: Connection, data: dict[str, Any], rank: int, n: int) -> None:
    """One worker: load on its own device, then run batches until told to stop."""
    try:
        import torch
        from llem.config.resolve import load_experiment
        from llem.plugins.manager import get_plugin_manager

        from llem_pytorch._generate import run_batch
        from llem_pytorch._load import load

        config = load_experiment(data, plugins=get_plugin_manager())
        if torch.cuda.is_available():
            torch.cuda.set_device(rank)
            device = f"cuda:{rank}"
        else:
            # N CPU workers share the cores: give each its slice instead of N × all threads fighting.
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // n))
            device = "cpu"
        handle = load(config, device_override=device)
        conn.send(("ready", [f"device {device}, {torch.get_num_threads()} CPU threads"]))
    except Exception:
        conn.send(("error", _last_lines()))
        return
    while True:
        kind, job = conn.recv()
        if kind == "stop":
            break
        prompts, max_new_tokens, fixed, index, phase, seed = job
        t0 = time.perf_counter()
        try:
            batch = Batch(
                prompts=prompts,
                max_new_tokens=max_new_tokens,
                fixed_output_length=fixed,
                index=index,
                phase=phase,
                seed=seed + rank,  # different samples per share, reproducible per (batch, rank)
            )
            output = run_batch(handle, batch, config, t0=t0)
            conn.send(("done", output, t0))
        except Exception:
            conn.send(("error", _last_lines()))
    conn.close()


def _last_lines() -> str:
    lines = traceback.format_exc().strip().splitlines()
    return " | ".join(line.strip() for line in lines[-3:])
