"""Does `llem run` change what it measures? Its window against a plain `model.generate` loop, side by side.

For each mode (eager; static KV cache; static cache + torch_compile) and batch size, one loaded model serves
both sides, in one process, in ABBA order and repeated (the ratio is the median of the paired runs' ratios,
with a bootstrap 95 % confidence interval):

- plain: `model.generate` over the batches with the same generate settings, `torch.cuda.synchronize()` around
  it, ids copied to the host (as any user of the output must); on a GPU its energy is read with the same
  counter edges llem uses, so J/output-token is compared too;
- llem: the whole lifecycle (`run_experiment`: one warm-up batch, window, prefill passes) with the model
  reused, and the window's own tokens/s and J/output-token from its result.

Prints one row per (mode, batch) with the ratios llem ÷ plain (goal: >= 0.97 tokens/s; J/token within 3 %).

    python3 bench/pytorch_overhead.py                               # CPU, tiny model, quick
    python3 bench/pytorch_overhead.py --model random:llama-3.2-1b --batch-sizes 1,8,32 --output-tokens 128
"""

from __future__ import annotations

import argparse
import statistics
import time

from _ratios import paired  # bench/ is the script's folder, so first on sys.path

MODES = {
    "eager": {},
    "static": {"cache_implementation": "static"},
    "static+compile": {"cache_implementation": "static", "torch_compile": True},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="random:tiny-llama")
    ap.add_argument("--precision", default=None, help="default: bf16 on GPU, fp32 on CPU")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--batch-sizes", default="1,4")
    ap.add_argument("--batches", type=int, default=2, help="batches per side per run")
    ap.add_argument("--input-tokens", type=int, default=32)
    ap.add_argument("--output-tokens", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3, help="interleaved runs per side (median; >= 3)")
    ap.add_argument("--out", default="/tmp/llem-overhead", help="where llem's result folders go")
    args = ap.parse_args()
    if args.runs < 3:
        ap.error("--runs must be >= 3")

    import torch
    from llem.config.resolve import load_experiment
    from llem.plugins import get_plugin_manager
    from llem.study.reuse import ModelCache, reusing_plugin_manager

    cuda = torch.cuda.is_available()
    precision = args.precision or ("bf16" if cuda else "fp32")
    meter = None
    if cuda:
        from llem.config.measurement import MeasurementConfig
        from llem.measure.devices import detect_devices
        from llem.measure.meters import open_meter

        meter = open_meter(MeasurementConfig(), detect_devices(), [0])
    rows = []
    for mode in args.modes.split(","):
        cache = ModelCache()
        plugins = reusing_plugin_manager(cache)
        for bs in [int(x) for x in args.batch_sizes.split(",")]:
            config = load_experiment(
                {
                    "model": args.model, "backend": "pytorch", "precision": precision,
                    "n_prompts": bs * args.batches, "max_input_tokens": args.input_tokens,
                    "max_output_tokens": args.output_tokens, "fixed_output_length": True,
                    "decoder": {"preset": "deterministic"}, "pytorch": {"batch_size": bs, **MODES[mode]},
                    "measurement": {"baseline": "none", "timeseries": False, "warmup_batches": 1},
                },
                plugins=get_plugin_manager(),
            )  # fmt: skip
            cell_t0 = time.perf_counter()
            side = _Sides(config, plugins, cache, meter, args, mode, bs)
            side.llem()  # warm-up of both sides (loads the model into the reuse cache, compiles)
            side.plain()
            side.results.clear()
            side.plain_tps.clear()
            side.plain_jpt.clear()
            for r in range(args.runs):  # ABBA: drift within a pair hits both sides alike
                first, second = (side.llem, side.plain) if r % 2 == 0 else (side.plain, side.llem)
                first()
                second()
            results, plain_tps, plain_jpt = side.results, side.plain_tps, side.plain_jpt
            llem_tps_runs = [x.metrics.output_tokens_per_s for x in results]
            tps = paired(llem_tps_runs, plain_tps)
            llem_jpt_runs = [x.metrics.energy_per_output_token_j or 0.0 for x in results]
            jpt = paired(llem_jpt_runs, plain_jpt) if plain_jpt and all(llem_jpt_runs) else None
            llem_tps = statistics.median(llem_tps_runs)
            llem_jpt = statistics.median(llem_jpt_runs) if jpt else None
            p_tps = statistics.median(plain_tps)
            p_jpt = statistics.median(plain_jpt) if plain_jpt else None
            notes = sorted({n for x in results for n in x.notes if "compile" in n})
            reps = results[-1].metrics.window_repetitions
            rows.append((mode, bs, p_tps, llem_tps, tps, p_jpt, llem_jpt, jpt, reps, notes))
            print(
                f"{mode:15s} batch {bs:3d}: plain {p_tps:9.1f} tok/s, llem {llem_tps:9.1f} tok/s, "
                f"ratio {_r(tps)}; J/out-tok plain {_f(p_jpt)} llem {_f(llem_jpt)} ratio {_r(jpt)} "
                f"({time.perf_counter() - cell_t0:.0f} s)",
                flush=True,
            )
        cache.drop()
    if meter is not None:
        meter.close()
    dev = torch.cuda.get_device_name(0) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\ndevice: {dev}; torch {torch.__version__}; model {args.model} {precision}; "
          f"{args.input_tokens} in / {args.output_tokens} out; {args.batches} batches per side; "
          f"{args.runs} runs in ABBA order; ratio: median of paired ratios [95 % bootstrap CI]")  # fmt: skip
    print(
        "| mode | batch | plain tok/s | llem tok/s | ratio [CI] | plain J/out-tok | llem J/out-tok "
        "| J ratio [CI] | window passes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for mode, bs, p, q, tps, pj, qj, jpt, reps, _ in rows:
        print(f"| {mode} | {bs} | {p:.1f} | {q:.1f} | {_r(tps)} | {_f(pj)} | {_f(qj)} | {_r(jpt)} | {reps} |")
    for mode, bs, *_, notes in rows:
        for n in notes:
            print(f"note ({mode}, batch {bs}): {n}")


class _Sides:
    """One (mode, batch) cell: each call of `llem` or `plain` adds one run of that side."""

    def __init__(self, config, plugins, cache, meter, args, mode, bs) -> None:
        self.config, self.plugins, self.cache, self.meter = config, plugins, cache, meter
        self.args, self.mode, self.bs = args, mode, bs
        self.results: list = []
        self.plain_tps: list[float] = []
        self.plain_jpt: list[float] = []

    def llem(self) -> None:
        from llem.run.lifecycle import run_experiment

        res = run_experiment(self.config, plugins=self.plugins, output_dir=self.args.out)
        if res.status != "ok":
            raise SystemExit(f"{self.mode} batch {self.bs}: llem run failed: {res.error}")
        self.results.append(res)

    def plain(self) -> None:
        import torch
        from llem.measure.energy import at_time, window_energy
        from llem_pytorch import _kwargs

        meter = self.meter
        edge = meter.read_edge() if meter else None
        t0 = time.perf_counter()
        tokens = _plain(
            self.cache.handle, self.config, _kwargs, torch, torch.cuda.is_available(), self.bs, self.args
        )
        t1 = time.perf_counter()
        self.plain_tps.append(tokens / (t1 - t0))
        if meter is not None:
            start = at_time(edge, t0)
            self.plain_jpt.append(window_energy(meter, start, meter.window_end(start, t1)).energy_j / tokens)


def _plain(handle, config, _kwargs, torch, cuda, bs, args) -> int:
    """The hand-written loop: the same prompts' shape, the same generate settings, nothing else."""
    kw = _kwargs.generate_kwargs(config, max_new_tokens=args.output_tokens, fixed_output_length=True)
    if handle.compile_config is not None:
        kw["compile_config"] = handle.compile_config
    model, pad = handle.model, handle.pad_token_id
    vocab = model.config.vocab_size
    n = 0
    if cuda:
        torch.cuda.synchronize()
    for k in range(args.batches):
        g = torch.Generator().manual_seed(k)
        ids = torch.randint(3, vocab, (bs, args.input_tokens), generator=g).to(handle.device)
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pad_token_id=pad, **kw)
        n += len(out[:, ids.shape[1] :].tolist()) * args.output_tokens
    if cuda:
        torch.cuda.synchronize()
    return n


def _r(r: tuple[float, float, float] | None) -> str:
    return f"{r[0]:.3f} [{r[1]:.3f}–{r[2]:.3f}]" if r else "n/a"


def _f(x: float | None) -> str:
    return f"{x:.4f}" if x is not None else "n/a"


if __name__ == "__main__":
    main()
