"""Study efficiency: wall time of a study ÷ the sum of its measured windows (goal: <= 1.5).

    python bench/study_efficiency.py [--out DIR] [--model random:tiny-llama] [--precision fp32]
                                     [--n-prompts 128] [--max-output-tokens 128] [--modes isolated,reuse]
                                     [--batch-sizes 4,8] [--set KEY=VALUE ...] [--no-prepare-next]
                                     [--screenshot]

Runs the same study (pytorch.batch_size [4, 8] × decoder.preset [deterministic, standard, factual]: 6 points,
one cycle) twice: `isolated` (every experiment in a fresh worker process: start-up and model load each time)
and `reuse` (reuse_model: true: one worker loads the model once, the six experiments differ only in runtime
settings). Prints, per mode, the wall time, the sum of the measured windows, their ratio, where the rest of
the time went, and the wall-time saving of model reuse.

Where upstream llenergymeasure sleeps 60 s (thermal floor) and measures a 30 s baseline per experiment, llem
waits on measured stability (warmup: converge and settle_temperature where asked) and measures the idle
baseline once per device state, then reuses it while a short check agrees (measurement.baseline: cached). On a
machine with no energy counter (this CPU box) no baseline is taken at all, and the report says energy was not
measured. With --screenshot, the reuse study's HTML report is rendered and screenshotted with headless
Chromium. On a GPU: python3 bench/study_efficiency.py --model random:llama-3.2-1b --precision bf16 --n-prompts
128"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml


def study_file(folder: Path, mode: str, args: argparse.Namespace) -> Path:
    study = {
        "name": f"efficiency-{mode}",
        "base": {
            "model": args.model,
            "backend": "pytorch",
            "precision": args.precision,
            "n_prompts": args.n_prompts,
            "max_input_tokens": 32,
            "max_output_tokens": args.max_output_tokens,
        },
        "sweep": {
            "pytorch.batch_size": [int(b) for b in args.batch_sizes.split(",")],
            "decoder.preset": ["deterministic", "standard", "factual"],
        },
        "order": "sequential",
        "reuse_model": mode == "reuse",
        "prepare_next": args.prepare_next,
        "timeout_s": 900,
    }
    for item in args.set:
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = study["base"]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    path = folder / f"study-{mode}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def run_mode(folder: Path, mode: str, args: argparse.Namespace) -> dict:
    from llem.study.api import run

    path = study_file(folder, mode, args)
    t0 = time.perf_counter()
    _, study_dir = run(path, output=folder / mode)
    wall = time.perf_counter() - t0
    # plain rows, not pandas: the GPU machines have no pandas
    from llem.study.manifest import load_manifest
    from llem.study.table import run_rows

    runs = run_rows(study_dir, load_manifest(study_dir))
    ok = [r for r in runs if r["status"] == "ok"]
    if len(ok) != len(runs):
        failed = "\n".join(f"  {r['run_id']}: {r['error']}" for r in runs if r["status"] != "ok")
        raise SystemExit(f"{mode}: {len(runs) - len(ok)} experiments failed:\n{failed}")
    stages = ("window_s", "load_s", "warmup_s", "baseline_s", "prefill_s")
    part = {k: sum(r[k] or 0.0 for r in ok) for k in stages}
    run_walls = sum(r["wall_s"] or 0.0 for r in ok)
    measured = any(r["energy_measured"] for r in ok)
    return {
        "mode": mode,
        "dir": study_dir,
        "points": len(ok),
        "wall_s": wall,
        **part,
        "worker_other_s": run_walls - sum(part.values()),
        "study_other_s": wall - run_walls,
        "ratio": wall / part["window_s"],
        "energy": "measured" if measured else f"not measured ({ok[0]['energy_not_measured_reason']})",
        "j_per_tok": [r["energy_per_output_token_j"] for r in ok],
        "tok_per_s": [r["output_tokens_per_s"] for r in ok],
        "per_point": [(r["load_s"], r["warmup_s"], r["window_s"], r["wall_s"]) for r in ok],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the studies (default: a temporary folder)")
    parser.add_argument("--model", default="random:tiny-llama")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--n-prompts", type=int, default=128)
    parser.add_argument("--max-output-tokens", type=int, default=128)
    parser.add_argument("--modes", default="isolated,reuse")
    parser.add_argument("--batch-sizes", default="4,8", help="the sweep's pytorch.batch_size values")
    parser.add_argument(
        "--no-prepare-next",
        dest="prepare_next",
        action="store_false",
        help="start each worker only after the previous one ended (study prepare_next: false)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a base field, e.g. pytorch.torch_compile=true",
    )
    parser.add_argument("--screenshot", action="store_true")
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="llem-study-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = [run_mode(folder, m.strip(), args) for m in args.modes.split(",") if m.strip()]
    print(
        f"{results[0]['points']}-point study: {args.model} {args.precision}, "
        f"{args.n_prompts} prompts × {args.max_output_tokens} tokens, "
        f"pytorch.batch_size [{args.batch_sizes}] × decoder.preset [deterministic, standard, factual]"
        + "".join(f", {item}" for item in args.set)
    )
    print(f"energy: {results[0]['energy']}")
    print(
        f"{'mode':9} {'points':>6} {'wall s':>8} {'windows s':>10} {'ratio':>6}   "
        f"{'load s':>7} {'warm-up s':>9} {'baseline s':>10} {'prefill s':>9} {'worker other s':>14} "
        f"{'outside s':>9}"
    )
    for r in results:
        print(
            f"{r['mode']:9} {r['points']:>6} {r['wall_s']:>8.1f} {r['window_s']:>10.1f} {r['ratio']:>6.2f}   "
            f"{r['load_s']:>7.1f} {r['warmup_s']:>9.1f} {r['baseline_s']:>10.1f} {r['prefill_s']:>9.1f} "
            f"{r['worker_other_s']:>14.1f} "
            f"{r['study_other_s']:>9.1f}"
        )
    for r in results:
        shown = "; ".join(
            "/".join("—" if v is None else f"{v:.1f}" for v in point) for point in r["per_point"]
        )
        print(f"{r['mode']}: load / warm-up / window / run wall s by point: {shown}")
    for r in results:
        shown = ", ".join("—" if v is None else f"{v:.0f}" for v in r["tok_per_s"])
        print(f"{r['mode']}: output tokens/s of the window by point: {shown}")
    for r in results:
        if any(v is not None for v in r["j_per_tok"]):
            shown = ", ".join("—" if v is None else f"{v:.4g}" for v in r["j_per_tok"])
            print(f"{r['mode']}: J per output token by point: {shown}")
    by = {r["mode"]: r for r in results}
    for r in results:
        over = r["wall_s"] - r["window_s"]
        print(
            f"{r['mode']}: {over:.1f} s outside the measured windows "
            f"({over / r['points']:.1f} s per experiment)"
        )
    if "isolated" in by and "reuse" in by:
        # Compare time outside the windows: the windows themselves vary with load on a shared machine.
        iso = by["isolated"]["wall_s"] - by["isolated"]["window_s"]
        reu = by["reuse"]["wall_s"] - by["reuse"]["window_s"]
        print(
            f"model reuse saves {iso - reu:.1f} s of the {iso:.1f} s spent outside the windows "
            f"({100 * (iso - reu) / iso:.0f}%; {(iso - reu) / by['reuse']['points']:.1f} s per experiment)"
        )
    best = min(r["ratio"] for r in results)
    print(f"goal wall ÷ windows <= 1.5: {'met' if best <= 1.5 else 'NOT met'} (best {best:.2f})")
    print(
        "(worker other: inside the worker, outside the lifecycle steps: imports, prompt preparation, result "
        "writing; outside: before and after the workers' clocks: interpreter start-up and exit, planning, "
        "manifest and table writes, polling)"
    )
    print(f"studies in {folder}")
    if args.screenshot:
        sys.path.insert(0, str(Path(__file__).parent))
        from llem.report.html import render_report
        from report_screenshot import png_size, screenshot

        report = render_report(results[-1]["dir"])
        shot = screenshot(report, folder / "report.png")
        print(f"report {report}; screenshot {shot} ({'x'.join(map(str, png_size(shot)))} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
