"""Wall time of `llem backends list` (all installed plugins) against `python -c pass`, median of N runs each.

Usage: python bench/cli_startup.py [--runs 15]. Goal: llem backends list <= 0.25 s on a 2-core machine.
Runs are interleaved so machine noise hits both commands alike; the ratio is printed too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    llem = shutil.which("llem")
    llem_cmd = [llem, "backends", "list"] if llem else [sys.executable, "-m", "llem", "backends", "list"]
    cmds = {"python -c pass": [sys.executable, "-c", "pass"], "llem backends list": llem_cmd,
            "llem --help": [*llem_cmd[:-2], "--help"]}  # fmt: skip
    for cmd in cmds.values():  # warm the OS file cache
        timed(cmd)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            times[name].append(timed(cmd))
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<22} {'median s':>9} {'min s':>7} {'max s':>7} {'÷ python':>9}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<22} {med:9.3f} {min(ts):7.3f} {max(ts):7.3f} {med / base:9.2f}")
    verdict = "meets" if statistics.median(times["llem backends list"]) <= 0.25 else "MISSES"
    print(f"goal: llem backends list <= 0.25 s: {verdict}")


if __name__ == "__main__":
    main()
