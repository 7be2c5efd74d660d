"""Cross-check llem's window energy against Zeus and against integrated power samples, on one GPU.

Usage (on a machine with an NVIDIA GPU; torch, pynvml and msgspec importable; zeus optional):

    python3 bench/energy_crosscheck.py [--gpu 0] [--windows 0.5,1,2,5,10] [--repeats 2]

For each window length, a sustained bf16 matmul load runs for that long while, over the same window:
- llem reads the NVML energy counter at aligned edges (open_meter + read_edge, then window_energy),
- Zeus's ZeusMonitor measures it (begin_window/end_window), if zeus is importable,
- a 10 Hz thread samples nvmlDeviceGetPowerUsage and integrates it (trapezoids).
The llem telemetry sampler runs too, at 10 Hz, and its cost is printed. Goal: llem within 1 % of Zeus on
windows
of 5 s and more; integrated power shows how far sampled (averaged) power is off on short ones.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import llem  # noqa: F401
except ImportError:  # run from a checkout without installing llem-core
    sys.path.insert(0, str(ROOT / "core" / "src"))

import itertools  # noqa: E402

import pynvml  # noqa: E402
import torch  # noqa: E402
from llem.config.measurement import MeasurementConfig  # noqa: E402
from llem.measure.devices import detect_devices  # noqa: E402
from llem.measure.energy import at_time, window_energy  # noqa: E402
from llem.measure.meters import open_meter  # noqa: E402
from llem.measure.telemetry import TelemetrySampler  # noqa: E402


class PowerIntegrator:
    """Samples nvmlDeviceGetPowerUsage at `hz` and integrates it over [start, stop]."""

    def __init__(self, handle, hz: float = 10.0) -> None:
        self.handle, self.interval = handle, 1.0 / hz
        self.samples: list[tuple[float, float]] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_due = time.perf_counter()
        while not self.stop_event.is_set():
            self.samples.append((time.perf_counter(), pynvml.nvmlDeviceGetPowerUsage(self.handle) / 1000))
            next_due += self.interval
            self.stop_event.wait(max(0.0, next_due - time.perf_counter()))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join()

    def energy_j(self, t0: float, t1: float) -> float:
        pts = [(t, w) for t, w in self.samples if t0 <= t <= t1]
        if len(pts) < 2:
            return float("nan")
        inner = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in itertools.pairwise(pts))
        # Extend the first and last samples to the window edges, as a sampling tool would.
        return inner + (pts[0][0] - t0) * pts[0][1] + (t1 - pts[-1][0]) * pts[-1][1]


def load(a, b, seconds: float, per_mm: float) -> None:
    t0 = time.perf_counter()
    chunk = max(1, int(0.05 / per_mm))
    while time.perf_counter() - t0 < seconds - per_mm / 2:
        left = seconds - (time.perf_counter() - t0)
        for _ in range(max(1, min(chunk, int(left / per_mm)))):
            a @ b
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--windows", default="0.5,1,2,5,10")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    windows = [float(w) for w in args.windows.split(",")]

    try:
        from zeus.monitor import ZeusMonitor
    except Exception as exc:  # ImportError, or a dependency of zeus failing at import
        ZeusMonitor = None
        print(f"zeus: not importable ({type(exc).__name__}: {exc}); the Zeus column is skipped")

    torch.cuda.set_device(args.gpu)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(50):
        a @ b
    torch.cuda.synchronize()
    per_mm = (time.perf_counter() - t0) / 50

    device = detect_devices()
    meter = open_meter(MeasurementConfig(energy_sampler="nvml"), device, [args.gpu])
    print(meter.describe(), f"({', '.join(meter.devices)})")
    print(
        f"counter period {meter.update_period_s * 1e3:.1f} ms, read cost {meter.read_cost_s * 1e3:.2f} ms; "
        f"matmul {per_mm * 1e3:.2f} ms"
    )
    zeus = ZeusMonitor(gpu_indices=[args.gpu]) if ZeusMonitor is not None else None

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(args.gpu)
    power = PowerIntegrator(handle, hz=10.0)
    power.start()
    sampler = TelemetrySampler([args.gpu], interval_s=0.1).start()

    print(
        f"{'window':>7} {'llem J':>10} {'± J':>7} {'zeus J':>10} {'llem/zeus-1':>12} {'power-int J':>12} "
        f"{'power/llem-1':>13} {'short':>6}"
    )
    rel_zeus: dict[float, list[float]] = {w: [] for w in windows}
    rel_power: dict[float, list[float]] = {w: [] for w in windows}
    for _ in range(args.repeats):
        for w in windows:
            time.sleep(2.0)  # idle between windows, so each starts from the same state
            edge = meter.read_edge()
            if zeus is not None:
                zeus.begin_window("w", sync_execution=True)
            t0 = time.perf_counter()
            load(a, b, w, per_mm)
            t1 = time.perf_counter()
            if zeus is not None:
                z = zeus.end_window("w", sync_execution=True)
                zeus_j = sum(z.gpu_energy.values())
            start = at_time(edge, t0)
            end = meter.window_end(start, t1)
            we = window_energy(meter, start, end)
            p_j = power.energy_j(start.t_s, end.t_s)
            rp = p_j / we.energy_j - 1
            rel_power[w].append(rp)
            if zeus is not None:
                rz = we.energy_j / zeus_j - 1
                rel_zeus[w].append(rz)
                zcols = f"{zeus_j:10.1f} {rz * 100:+11.2f}%"
            else:
                zcols = f"{'-':>10} {'-':>12}"
            print(
                f"{w:6.1f}s {we.energy_j:10.1f} {we.bound_j:7.1f} {zcols} {p_j:12.1f} {rp * 100:+12.1f}% "
                f"{'yes' if we.short else 'no':>6}"
            )
    samples = sampler.stop()
    power.stop()
    meter.close()

    print("\nsummary (median over repeats)")
    for w in windows:
        z = f"llem vs zeus {statistics.median(rel_zeus[w]) * 100:+.2f}%" if rel_zeus[w] else "zeus: -"
        print(f"  {w:5.1f} s: {z};  integrated power vs llem {statistics.median(rel_power[w]) * 100:+.1f}%")
    long = [abs(r) for w in windows if w >= 5 for r in rel_zeus[w]]
    if long:
        print(
            f"goal llem within 1% of zeus on >= 5 s windows: {'MET' if max(long) <= 0.01 else 'NOT MET'} "
            f"(worst {max(long) * 100:.2f}%)"
        )
    print(
        f"telemetry sampler at 10 Hz: {len(samples)} samples, "
        f"{sampler.cost_s / max(1, sampler.ticks) * 1e3:.3f} "
        f"ms per tick, busy {sampler.overhead * 100:.2f}% of the time, {sampler.late_ticks} late ticks"
    )
    if meter.notes:
        print("meter notes:", *meter.notes, sep="\n  ")
    pynvml.nvmlShutdown()


if __name__ == "__main__":
    main()
