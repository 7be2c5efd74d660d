"""GPU check of `llem run`: a random-weight Llama-3.2-1B-shaped model in bf16 at two batch sizes, with energy.

Runs the full lifecycle (`llem.run.run_experiment`: warm-up, idle baseline with the model loaded, measured
window between energy-counter edges) once per batch size and prints one row each: energy ± bound, idle power,
dynamic energy, J per output token, prefill/decode split, throughput, latency, MFU/MBU. Result folders go to
$OUT (or --output), so they come back from the device machine.

    python3 bench/gpu_run.py                        # batch sizes 4 and 32
    python3 bench/gpu_run.py --batch-sizes 1,8,64 --set pytorch.cache_implementation=static
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for sub in ("core/src", "plugins/llem-pytorch/src"):
    if str(ROOT / sub) not in sys.path:
        sys.path.append(str(ROOT / sub))

BASE = {
    "model": "random:llama-3.2-1b",
    "backend": "pytorch",
    "precision": "bf16",
    "n_prompts": 64,
    "max_input_tokens": 128,
    "max_output_tokens": 128,
    "fixed_output_length": True,
    "decoder": {"preset": "deterministic"},
    "measurement": {"warmup_batches": 2, "baseline": "fresh", "baseline_duration_s": 5.0},
}


def plugin_manager():
    from llem.plugins.manager import get_plugin_manager

    plugins = get_plugin_manager()
    if "pytorch" not in plugins.backends:  # llem-pytorch on sys.path but not installed: register it by hand
        import llem_pytorch.plugin

        plugins.register(llem_pytorch.plugin, "pytorch")
    return plugins


def fmt(value, spec: str, missing: str = "—") -> str:
    width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
    return missing.rjust(width) if value is None else format(value, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-sizes", default="4,32")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--output", default=os.environ.get("OUT") or "results/gpu_run")
    args = ap.parse_args()

    from llem.config.resolve import load_experiment
    from llem.run import run_experiment

    plugins = plugin_manager()
    rows = []
    for bs in [int(x) for x in args.batch_sizes.split(",")]:
        config = load_experiment(
            {**BASE, "name": f"gpu-run-bs{bs}", "pytorch": {"batch_size": bs}},
            overrides=args.overrides,
            plugins=plugins,
        )
        print(
            f"--- batch size {bs}: {config.n_prompts} prompts × {config.max_output_tokens} output tokens",
            flush=True,
        )
        r = run_experiment(config, plugins=plugins, output_dir=args.output)
        if r.status != "ok":
            print(f"FAILED: {r.error}\n{r.error_traceback}")
            continue
        for note in r.notes:
            print(f"  note: {note}")
        rows.append((bs, r))
    if not rows:
        raise SystemExit(1)
    gpu = rows[0][1].environment.get("gpus", [{}])
    g = gpu[0] if gpu else {}
    print(
        f"\n{g.get('name')} driver {g.get('driver')} power limit {g.get('power_limit_w')} W; "
        f"counter period {fmt(rows[0][1].energy.counter_period_s, '.4f')} s"
    )
    head = (
        f"{'bs':>3} {'window s':>8} {'out tok/s':>9} {'total J':>9} {'± J':>6} {'idle W':>7} {'dyn J':>8} "
        f"{'J/out tok':>9} {'dynJ/out':>9} {'prefill J':>9} {'decode J':>9} {'split':>9} {'TTFT p50 ms':>11} "
        f"{'ITL p50 ms':>10} {'MFU':>6} {'MBU':>6} {'short':>5}"
    )
    print(head)
    for bs, r in rows:
        e, m = r.energy, r.metrics
        print(
            f"{bs:>3} {fmt(r.timings.window_s, '8.2f')} {fmt(m.output_tokens_per_s, '9.1f')} "
            f"{fmt(e.total_j, '9.1f')} {fmt(e.total_j_bound, '6.2f')} {fmt(e.idle_power_w, '7.1f')} "
            f"{fmt(e.dynamic_j, '8.1f')} {fmt(m.energy_per_output_token_j, '9.4f')} "
            f"{fmt(m.dynamic_energy_per_output_token_j, '9.4f')} {fmt(e.prefill_j, '9.1f')} "
            f"{fmt(e.decode_j, '9.1f')} {e.phase_split!s:>9} "
            f"{fmt(m.ttft_s.p50 * 1000 if m.ttft_s.p50 else None, '11.1f')} "
            f"{fmt(m.itl_s.p50 * 1000 if m.itl_s.p50 else None, '10.2f')} {fmt(m.mfu, '6.1%')} "
            f"{fmt(m.mbu, '6.1%')} {e.short_window!s:>5}"
        )
    print(
        f"energy measured: {rows[0][1].energy.measured} ({rows[0][1].energy.not_measured_reason or 'nvml'}); "
        f"results in {args.output}"
    )


if __name__ == "__main__":
    main()
