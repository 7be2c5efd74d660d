"""Record the energy counter through a bursty load, to evaluate window-edge methods offline.

Usage (on a machine with an NVIDIA GPU; torch and pynvml importable; llem itself is not needed):

    python3 bench/record_window_trace.py OUT.json [--truth-s 40] [--windows 0.25,1,5] [--repeats 5]

One thread polls the GPU's total-energy counter as fast as it answers for the whole recording, stamping each
value with time.perf_counter() (the midpoint of the call). The load alternates 30 ms of bf16 matmuls and 20 ms
of host sleep (a 50 ms cycle). First a long run of that load (the truth: its energy per cycle, from counter
values many seconds apart), then short windows of whole cycles, each after an idle gap of random length, so
that window edges fall at every phase of the counter's update period. Any edge method (aligned, interpolated,
a plain read as Zeus's ZeusMonitor makes) can then be replayed from the trace against the truth
(bench/window_truth.py --trace).
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time

import pynvml
import torch


def cycle(a: torch.Tensor, b: torch.Tensor, busy_s: float = 0.030, sleep_s: float = 0.020) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < busy_s:
        torch.matmul(a, b)
        torch.cuda.synchronize()
    time.sleep(sleep_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--truth-s", type=float, default=40.0)
    ap.add_argument("--windows", default="0.25,1,5")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(args.gpu)
    torch.cuda.set_device(args.gpu)
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    for _ in range(20):
        cycle(a, b)  # warm kernels and clocks

    trace_t: list[float] = []
    trace_mj: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            v = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
            trace_t.append((t0 + time.perf_counter()) / 2)
            trace_mj.append(int(v))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(2.0)
    events: list[dict] = []
    n_truth = round(args.truth_s / 0.05)
    t0 = time.perf_counter()
    for _ in range(n_truth):
        cycle(a, b)
    events.append({"kind": "truth", "t0": t0, "t1": time.perf_counter(), "cycles": n_truth})
    rng = random.Random(0)
    for length in [float(x) for x in args.windows.split(",")]:
        for _ in range(args.repeats):
            time.sleep(1.0 + rng.random() * 0.1)
            n = max(1, round(length / 0.05))
            t0 = time.perf_counter()
            for _ in range(n):
                cycle(a, b)
            events.append(
                {"kind": "window", "length_s": length, "t0": t0, "t1": time.perf_counter(), "cycles": n}
            )
    time.sleep(1.0)
    stop.set()
    poller.join()
    name = pynvml.nvmlDeviceGetName(h)
    out = {
        "gpu": name.decode() if isinstance(name, bytes) else name,
        "driver": pynvml.nvmlSystemGetDriverVersion(),
        "events": events,
        "t_s": trace_t,
        "mj": trace_mj,
    }
    with open(args.out, "w") as f:
        json.dump(out, f)
    print(f"recorded {len(trace_t)} counter reads, {len(events)} events -> {args.out}")


if __name__ == "__main__":
    main()
