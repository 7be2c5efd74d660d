"""Does `llem run` change what it measures? Its window against a plain `model.generate` loop, side by side.

For each mode (eager; static KV cache; static cache + torch_compile) and batch size, one loaded model serves
both sides, in one process, interleaved and repeated (medians):

- plain: `model.generate` over the batches with the same generate settings, `torch.cuda.synchronize()` around
  it, ids copied to the host (as any user of the output must); on a GPU its energy is read with the same
  counter edges llem uses, so J/output-token is compared too;
- llem: the whole lifecycle (`run_experiment`: warm-up, window, prefill passes) with the model reused, and the
  window's own tokens/s and J/output-token from its result.

Prints one row per (mode, batch) with the ratios llem ÷ plain (goal: >= 0.97 tokens/s; J/token within 3 %).

    python3 bench/pytorch_overhead.py                               # CPU, tiny model, quick
    python3 bench/pytorch_overhead.py --model random:llama-3.2-1b --batch-sizes 1,8,32 --output-tokens 128
"""

from __future__ import annotations

import argparse
import statistics
import time

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
    from llem.measure.energy import at_time, window_energy
    from llem.plugins import get_plugin_manager
    from llem.run.lifecycle import run_experiment
    from llem.study.reuse import ModelCache, reusing_plugin_manager
    from llem_pytorch import _kwargs

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
                    "measurement": {"baseline": "none", "timeseries": False},
                },
                plugins=get_plugin_manager(),
            )  # fmt: skip
            # llem first (it loads the model into the reuse cache), then the plain loop on that model
            results = []
            plain_tps: list[float] = []
            plain_jpt: list[float] = []
            for r in range(args.runs + 1):
                res = run_experiment(config, plugins=plugins, output_dir=args.out)
                if res.status != "ok":
                    raise SystemExit(f"{mode} batch {bs}: llem run failed: {res.error}")
                handle = cache.handle
                if r == 0:  # warm-up of both sides (compilation, allocator)
                    _plain(handle, config, _kwargs, torch, cuda, bs, args)
                    continue
                results.append(res)
                edge = meter.read_edge() if meter else None
                t0 = time.perf_counter()
                tokens = _plain(handle, config, _kwargs, torch, cuda, bs, args)
                t1 = time.perf_counter()
                plain_tps.append(tokens / (t1 - t0))
                if meter is not None:
                    start = at_time(edge, t0)
                    we = window_energy(meter, start, meter.window_end(start, t1))
                    plain_jpt.append(we.energy_j / tokens)
            llem_tps = statistics.median(x.metrics.output_tokens_per_s for x in results)
            jpts = [
                x.metrics.energy_per_output_token_j for x in results if x.metrics.energy_per_output_token_j
            ]
            llem_jpt = statistics.median(jpts) if jpts else None
            p_tps = statistics.median(plain_tps)
            p_jpt = statistics.median(plain_jpt) if plain_jpt else None
            notes = sorted({n for x in results for n in x.notes if "compile" in n})
            rows.append(
                (mode, bs, p_tps, llem_tps, p_jpt, llem_jpt, results[-1].metrics.window_repetitions, notes)
            )
            print(
                f"{mode:15s} batch {bs:3d}: plain {p_tps:9.1f} tok/s, llem {llem_tps:9.1f} tok/s, "
                f"ratio {llem_tps / p_tps:.3f}; J/out-tok plain {_f(p_jpt)} llem {_f(llem_jpt)}",
                flush=True,
            )
        cache.drop()
    if meter is not None:
        meter.close()
    dev = torch.cuda.get_device_name(0) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\ndevice: {dev}; torch {torch.__version__}; model {args.model} {precision}; "
          f"{args.input_tokens} in / {args.output_tokens} out; {args.batches} batches per side; "
          f"{args.runs} interleaved runs, medians")  # fmt: skip
    print(
        "| mode | batch | plain tok/s | llem tok/s | ratio | plain J/out-tok | llem J/out-tok | J ratio "
        "| window passes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for mode, bs, p, q, pj, qj, reps, _ in rows:
        jr = f"{qj / pj:.3f}" if pj and qj else "n/a"
        print(f"| {mode} | {bs} | {p:.1f} | {q:.1f} | {q / p:.3f} | {_f(pj)} | {_f(qj)} | {jr} | {reps} |")
    for mode, bs, *_, notes in rows:
        for n in notes:
            print(f"note ({mode}, batch {bs}): {n}")


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


def _f(x: float | None) -> str:
    return f"{x:.4f}" if x is not None else "n/a"


if __name__ == "__main__":
    main()
