"""What measuring costs: tokens/s of the measured window with measurement ÷ without (goal: >= 0.995).

One process, one loaded model, the same batches. "with" is llem's measured window exactly as `llem run` runs
it (energy-counter edges, the telemetry sampler thread); "without" is a bare loop over the same `generate`
calls with no meter and no sampler. Pairs are interleaved and alternate which side goes first (ABBA), so drift
in machine load or GPU clocks hits both sides alike; at least 5 pairs; the median ratio is the figure.

    python3 bench/measure_overhead.py                       # CPU: examples/quickstart.yaml
    python3 bench/measure_overhead.py --gpu                 # GPU: random:llama-3.2-1b, bf16, batch 8
    python3 bench/measure_overhead.py CONFIG --set pytorch.batch_size=32 --pairs 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for sub in ("core/src", "plugins/llem-pytorch/src"):
    if str(ROOT / sub) not in sys.path:
        sys.path.append(str(ROOT / sub))  # a checkout without `pip install -e`: still runnable

GPU_CONFIG = {
    "name": "overhead-llama-3.2-1b",
    "model": "random:llama-3.2-1b",
    "backend": "pytorch",
    "precision": "bf16",
    "n_prompts": 32,
    "max_input_tokens": 128,
    "max_output_tokens": 64,
    "decoder": {"preset": "deterministic"},
    "pytorch": {"batch_size": 8},
}


def plugin_manager():
    from llem.plugins.manager import get_plugin_manager

    plugins = get_plugin_manager()
    if "pytorch" not in plugins.backends:  # llem-pytorch on sys.path but not installed: register it by hand
        import llem_pytorch.plugin

        plugins.register(llem_pytorch.plugin, "pytorch")
    return plugins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=str(ROOT / "examples" / "quickstart.yaml"))
    ap.add_argument(
        "--gpu", action="store_true", help="use the built-in GPU config (Llama-3.2-1B shape, bf16)"
    )
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--pairs", type=int, default=6, help="interleaved with/without pairs (>= 5)")
    args = ap.parse_args()
    if args.pairs < 5:
        ap.error("--pairs must be >= 5")

    from llem.config.resolve import load_experiment
    from llem.measure.devices import detect_devices
    from llem.measure.meters import open_meter
    from llem.plugins.types import Batch
    from llem.prompts import load_prompts
    from llem.run.batching import batch_size, split
    from llem.run.lifecycle import RunState, WindowRecord, _measure

    plugins = plugin_manager()
    config = load_experiment(
        GPU_CONFIG if args.gpu else args.config, overrides=args.overrides, plugins=plugins
    )
    backend = plugins.backend(config.backend)
    caps = backend.capabilities()
    device = detect_devices()
    gpus = [g.index for g in device.gpus]
    meter = open_meter(config.measurement, device, gpus)
    batches = split(load_prompts(config).measured, batch_size(config.section(), caps, config.n_prompts))
    print(
        f"{config.model} on {config.backend}, {config.precision}, "
        f"{len(batches)} batches of {len(batches[0])}, "
        f"{config.max_output_tokens} output tokens; {meter.describe()}"
    )
    handle = backend.load(config, backend.build_engine(config, Path("/tmp/llem-engines")))
    state = RunState(
        config=config,
        caps=caps,
        device=device,
        gpu_indices=gpus,
        meter=meter,
        prompts_source="",
        batch_size=len(batches[0]),
        n_batches=len(batches),
        started_at=datetime.now(UTC),
    )

    def bare() -> float:
        out_tokens = 0
        t0 = time.perf_counter()
        for k, prompts in enumerate(batches):
            out = backend.generate(
                handle,
                Batch(
                    prompts=prompts,
                    max_new_tokens=config.max_output_tokens,
                    fixed_output_length=config.fixed_output_length,
                    index=k,
                    phase="measure",
                    seed=config.random_seed + k,
                ),
                config,
            )
            out_tokens += sum(r.output_tokens for r in out.requests)
        return out_tokens / (time.perf_counter() - t0)

    def measured() -> float:
        rec = WindowRecord()
        _measure(state, backend, handle, batches, rec, lambda event: None)
        tokens = sum(r.output_tokens for out in rec.outputs for r in out.requests)
        return tokens / (rec.end_s - rec.start_s)

    try:
        bare(), measured()  # warm-up, not counted
        ratios = []
        print(f"{'pair':>4}  {'with tok/s':>11}  {'without tok/s':>13}  {'ratio':>7}")
        for i in range(args.pairs):
            if i % 2 == 0:
                w, wo = measured(), bare()
            else:
                wo, w = bare(), measured()
            ratios.append(w / wo)
            print(f"{i + 1:>4}  {w:>11.1f}  {wo:>13.1f}  {w / wo:>7.4f}")
    finally:
        backend.unload(handle)
        meter.close()
    med = statistics.median(ratios)
    print(
        f"median ratio (with ÷ without): {med:.4f}  mean {statistics.fmean(ratios):.4f}  "
        f"min {min(ratios):.4f}  max {max(ratios):.4f}  goal >= 0.995: {'MET' if med >= 0.995 else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
