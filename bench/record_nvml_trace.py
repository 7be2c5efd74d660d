"""Record a real NVML counter/power trace on a GPU, for the replay tests in tests/measure.

Usage (on a machine with an NVIDIA GPU, plain python3 with pynvml and torch; llem itself is not needed):

    python3 bench/record_nvml_trace.py tests/fixtures/nvml/h100.json [--gpu 0]

Phases, with a live CUDA context throughout: idle 5 s, a bf16 matmul burst of ~0.6 s, idle 3 s, sustained
matmul
load 5 s, idle 5 s. One thread polls the energy counter as fast as it answers (every change is seen within one
read); another polls power at ~100 Hz and temperature, clocks, memory and throttle reasons at ~10 Hz. Every
value
is stamped with time.perf_counter() relative to the start of the trace. Also recorded: the counter's update
period
(median interval between changes) and the median cost of each NVML call.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import threading
import time
from datetime import UTC, datetime

import pynvml
import torch

PHASES = (("idle", 5.0), ("burst", 0.6), ("idle", 3.0), ("sustained", 5.0), ("idle", 5.0))


def s(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_costs(h) -> dict[str, float]:
    calls = {
        "energy": lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(h),
        "power": lambda: pynvml.nvmlDeviceGetPowerUsage(h),
        "temperature": lambda: pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
        "sm_clock": lambda: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
        "mem_clock": lambda: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
        "memory": lambda: pynvml.nvmlDeviceGetMemoryInfo(h),
        "throttle": lambda: pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h),
        "power_instant": lambda: pynvml.nvmlDeviceGetFieldValues(h, [pynvml.NVML_FI_DEV_POWER_INSTANT]),
    }
    costs = {}
    for name, fn in calls.items():
        times = []
        try:
            for _ in range(30):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        except pynvml.NVMLError as exc:
            print(f"  {name}: not supported ({exc})")
            continue
        costs[name] = statistics.median(times)
    return costs


def counter_period(h, seconds: float = 2.0) -> tuple[float, list[float]]:
    last = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    changes = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        v = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        if v != last:
            changes.append(time.perf_counter())
            last = v
    intervals = [b - a for a, b in itertools.pairwise(changes)]
    return statistics.median(intervals), intervals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", help="JSON file to write")
    ap.add_argument("--gpu", type=int, default=0, help="NVML index (default 0)")
    args = ap.parse_args()
    sys.setswitchinterval(0.0005)  # let the pollers in promptly while the main thread launches kernels

    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(args.gpu)
    name = s(pynvml.nvmlDeviceGetName(h))
    print(f"recording {name} (GPU {args.gpu})")

    torch.cuda.set_device(
        args.gpu
    )  # assumes CUDA and NVML order agree (CUDA_DEVICE_ORDER=PCI_BUS_ID to be sure)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    n = 50
    for _ in range(n):
        a @ b
    torch.cuda.synchronize()
    per_mm = (time.perf_counter() - t0) / n
    print(f"one 8192^3 bf16 matmul: {per_mm * 1e3:.2f} ms")
    time.sleep(2.0)

    costs = read_costs(h)
    print("NVML read costs (ms): " + ", ".join(f"{k} {v * 1e3:.3f}" for k, v in costs.items()))
    period, intervals = counter_period(h)
    print(f"energy counter period: {period * 1e3:.1f} ms (median of {len(intervals)} intervals)")

    energy_t: list[float] = []
    energy_mj: list[int] = []
    power_t: list[float] = []
    power_mw: list[int] = []
    instant_mw: list[int | None] = []
    tele: dict[str, list] = {
        k: []
        for k in (
            "t_s",
            "temperature_c",
            "sm_clock_mhz",
            "mem_clock_mhz",
            "memory_used_mib",
            "throttle_reasons",
        )
    }
    stop = threading.Event()
    start = time.perf_counter()
    has_instant = "power_instant" in costs

    def poll_energy() -> None:
        while not stop.is_set():
            v = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
            energy_t.append(time.perf_counter() - start)
            energy_mj.append(int(v))

    def poll_power() -> None:
        i = 0
        while not stop.is_set():
            tp = time.perf_counter()
            power_mw.append(int(pynvml.nvmlDeviceGetPowerUsage(h)))
            power_t.append(tp - start)
            if has_instant:
                fv = pynvml.nvmlDeviceGetFieldValues(h, [pynvml.NVML_FI_DEV_POWER_INSTANT])[0]
                instant_mw.append(int(fv.value.uiVal) if fv.nvmlReturn == 0 else None)
            if i % 10 == 0:
                tele["t_s"].append(time.perf_counter() - start)
                tele["temperature_c"].append(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))
                tele["sm_clock_mhz"].append(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM))
                tele["mem_clock_mhz"].append(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM))
                tele["memory_used_mib"].append(pynvml.nvmlDeviceGetMemoryInfo(h).used / 2**20)
                tele["throttle_reasons"].append(int(pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h)))
            i += 1
            time.sleep(max(0.0, 0.01 - (time.perf_counter() - tp)))

    threads = [
        threading.Thread(target=poll_energy, daemon=True),
        threading.Thread(target=poll_power, daemon=True),
    ]
    for t in threads:
        t.start()
    phases = []
    for phase, duration in PHASES:
        p0 = time.perf_counter()
        if phase == "idle":
            time.sleep(duration)
        else:
            chunk = max(1, int(0.1 / per_mm))  # synchronise every ~0.1 s so the queue never runs far ahead
            while time.perf_counter() - p0 < duration - per_mm:
                for _ in range(min(chunk, max(1, int((duration - (time.perf_counter() - p0)) / per_mm)))):
                    a @ b
                torch.cuda.synchronize()
        p1 = time.perf_counter()
        phases.append({"name": phase, "t0_s": round(p0 - start, 6), "t1_s": round(p1 - start, 6)})
        print(f"  {phase:9s} {p1 - p0:6.3f} s")
    stop.set()
    for t in threads:
        t.join()

    def window_j(p):
        sel = [(t, e) for t, e in zip(energy_t, energy_mj, strict=False) if p["t0_s"] <= t <= p["t1_s"]]
        return (sel[-1][1] - sel[0][1]) / 1000, sel[-1][0] - sel[0][0]

    def power_integral_j(p):
        sel = [(t, w / 1000) for t, w in zip(power_t, power_mw, strict=False) if p["t0_s"] <= t <= p["t1_s"]]
        return sum((t1 - t0) * w0 for (t0, w0), (t1, _) in itertools.pairwise(sel))

    print("phase      counter J   counter W   integrated-power J   power/counter")
    for p in phases:
        e, d = window_j(p)
        ip = power_integral_j(p)
        print(f"  {p['name']:9s} {e:9.1f} {e / d if d else 0:9.1f} {ip:14.1f} {ip / e if e else 0:16.3f}")

    trace = {
        "format": "llem-nvml-trace/1",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gpu": {
            "index": args.gpu,
            "name": name,
            "uuid": s(pynvml.nvmlDeviceGetUUID(h)),
            "driver": s(pynvml.nvmlSystemGetDriverVersion()),
            "power_limit_w": pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000,
            "memory_total_mib": pynvml.nvmlDeviceGetMemoryInfo(h).total // 2**20,
        },
        "torch": torch.__version__,
        "matmul_s": per_mm,
        "counter_period_s": period,
        "counter_intervals_s": intervals,
        "read_cost_s": costs,
        "phases": phases,
        "energy": {"t_s": [round(t, 6) for t in energy_t], "mj": energy_mj},
        "power": {
            "t_s": [round(t, 6) for t in power_t],
            "mw": power_mw,
            **({"instant_mw": instant_mw} if has_instant else {}),
        },
        "telemetry": {k: ([round(x, 6) for x in v] if k == "t_s" else v) for k, v in tele.items()},
    }
    with open(args.output, "w") as f:
        json.dump(trace, f, separators=(",", ":"))
    print(f"wrote {args.output}: {len(energy_t)} energy polls, {len(power_t)} power samples")
    pynvml.nvmlShutdown()


if __name__ == "__main__":
    main()
