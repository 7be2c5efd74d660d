"""Window energy against a long-window truth, llem beside Zeus, on a bursty load (one GPU).

The load alternates a fixed number of bf16 matmuls (~30 ms) and 20 ms of host sleep: a 50 ms cycle of fixed
work. Truth: the energy per cycle over a long run (default 40 s) between counter updates many seconds apart,
where the edges' error is diluted below 0.01 %. Then windows of 0.25 / 1 / 5 s of whole cycles, each after an
idle gap of random length (so edges fall at every phase of the counter's ~100 ms update period), each measured
by llem's edges (read_edge, moved to the workload start; window_end interpolated at its end) and by Zeus's
ZeusMonitor (begin_window / end_window) around the same workload. Error = measured ÷ (cycles × truth) − 1.

    python3 bench/window_truth.py [--truth-s 40] [--windows 0.25,1,5] [--repeats 8] [--inside-load]

With --inside-load the load runs without a break in a background thread and the windows are cut out of it: the
truth is then the load's steady power × the window's duration, and only the edge methods differ from it (no
start-up of a load after idle, which a windowed load pays and a steady truth does not). The table also gives
each window length's mean real duration, so a slow first cycle after idle shows.

Goals (issue 12): llem's median error within 0.5 % at 1 s and 5 s; the ± bound covers every 0.25 s window;
llem's median |error| no larger than Zeus's at each length.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
from llem.config.measurement import MeasurementConfig
from llem.measure.devices import detect_devices
from llem.measure.energy import at_time, window_energy
from llem.measure.meters import open_meter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--truth-s", type=float, default=40.0)
    ap.add_argument("--windows", default="0.25,1,5")
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--inside-load", action="store_true")
    args = ap.parse_args()
    torch.cuda.set_device(args.gpu)
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    for _ in range(50):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(200):
        a @ b
    torch.cuda.synchronize()
    per_mm = (time.perf_counter() - t0) / 200
    n_mm = max(1, round(0.030 / per_mm))

    def cycles(n: int) -> None:
        for _ in range(n):
            for _ in range(n_mm):
                a @ b
            torch.cuda.synchronize()
            time.sleep(0.020)

    try:
        from zeus.monitor import ZeusMonitor

        zeus = ZeusMonitor(gpu_indices=[args.gpu])
    except Exception as exc:  # ImportError or a dependency failing: the Zeus column is skipped, and said so
        zeus = None
        print(f"zeus not available ({type(exc).__name__}: {exc})")
    meter = open_meter(MeasurementConfig(energy_sampler="nvml"), detect_devices(), [args.gpu])
    print(meter.describe(), f"; {n_mm} matmuls of {per_mm * 1e3:.2f} ms per cycle")

    cycles(20)
    truth_j = 0.0
    if not args.inside_load:
        n_truth = round(args.truth_s / 0.05)
        start = meter.read_edge()
        cycles(n_truth)
        # both edges aligned to updates: exact for the span between them (the idle tail is < 0.01 %)
        end = meter.read_edge()
        truth_j = (end.total_j - start.total_j) / n_truth
        print(f"truth: {truth_j:.3f} J per cycle over {n_truth} cycles ({end.t_s - start.t_s:.1f} s)")

    rng = random.Random(0)
    errs: dict[tuple[float, str], list[float]] = {}
    covered: dict[float, list[bool]] = {}
    durations: dict[float, list[float]] = {}

    def measure(length: float, workload, truth_of) -> None:
        """One window around `workload()` by llem's edges and by Zeus; errors against `truth_of(seconds)`."""
        edge = meter.read_edge()
        if zeus is not None:
            zeus.begin_window("w", sync_execution=False)
        t0 = time.perf_counter()
        workload()
        t1 = time.perf_counter()
        z = zeus.end_window("w", sync_execution=False) if zeus is not None else None
        s = at_time(edge, t0)
        we = window_energy(meter, s, meter.window_end(s, t1))
        want = truth_of(t1 - t0)
        durations.setdefault(length, []).append(t1 - t0)
        errs.setdefault((length, "llem"), []).append(we.energy_j / want - 1)
        covered.setdefault(length, []).append(abs(we.energy_j - want) <= (we.bound_j or 0.0))
        if z is not None:
            errs.setdefault((length, "zeus"), []).append(sum(z.gpu_energy.values()) / want - 1)

    if args.inside_load:
        import threading

        stop = threading.Event()
        worker = threading.Thread(target=lambda: [cycles(1) for _ in iter(stop.is_set, True)], daemon=True)
        worker.start()
        time.sleep(2.0)
        start = meter.read_edge()
        time.sleep(args.truth_s)
        end = meter.read_edge()
        power_w = (end.total_j - start.total_j) / (end.t_s - start.t_s)
        print(f"inside the load: steady power {power_w:.1f} W over {end.t_s - start.t_s:.1f} s")
        for length in [float(x) for x in args.windows.split(",")]:
            for _ in range(args.repeats):
                time.sleep(rng.random() * 0.2)
                measure(length, lambda s=length: time.sleep(s), lambda seconds: power_w * seconds)
        stop.set()
        worker.join()
    for length in [] if args.inside_load else [float(x) for x in args.windows.split(",")]:
        n = max(1, round(length / 0.05))
        for _ in range(args.repeats):
            time.sleep(0.5 + rng.random() * 0.2)
            measure(length, lambda n=n: cycles(n), lambda seconds, n=n: n * truth_j)
    meter.close()
    print("| window | mean duration | llem median error | llem all | zeus median error | bound covers |")
    print("|---|---|---|---|---|---|")
    for length in covered:
        ll = errs[(length, "llem")]
        zz = errs.get((length, "zeus"), [])
        zcol = f"{statistics.median(zz) * 100:+.2f}%" if zz else "n/a"
        every = ", ".join(f"{x * 100:+.1f}" for x in ll)
        print(
            f"| {length:g} s | {statistics.mean(durations[length]):.3f} s "
            f"| {statistics.median(ll) * 100:+.2f}% | {every} | {zcol} "
            f"| {sum(covered[length])}/{len(covered[length])} |"
        )


if __name__ == "__main__":
    main()
