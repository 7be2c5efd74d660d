# ruff: noqa: B023 (the per-size closures run within their own loop iteration)
"""Where does llem's PyTorch path lose time against plain `model.generate`? An ablation in one process.

Each variant adds one piece of llem's path to a plain generate loop (the step clock, the plugin's batch path,
the telemetry sampler, the whole lifecycle), interleaved and repeated, and prints tokens/s and the ratio to
plain. `--profile` also prints the top host-side functions (cProfile) of plain and of llem's batch path for
one batch each.

    python3 bench/pytorch_ablation.py --model random:llama-3.2-1b --batch-sizes 1,8 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="random:tiny-llama")
    ap.add_argument("--precision", default=None)
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--input-tokens", type=int, default=128)
    ap.add_argument("--output-tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument(
        "--lifecycle", action="store_true", help="also run the whole lifecycle (llem run) per size"
    )
    ap.add_argument("-o", "--override", action="append", default=[])
    args = ap.parse_args()

    import torch
    from llem.config.resolve import load_experiment
    from llem.plugins import Batch, Prompt, get_plugin_manager
    from llem_pytorch import _kwargs
    from llem_pytorch._steps import StepClock

    cuda = torch.cuda.is_available()
    precision = args.precision or ("bf16" if cuda else "fp32")
    plugins = get_plugin_manager()
    sizes = [int(x) for x in args.batch_sizes.split(",")]

    def config_for(bs: int):
        return load_experiment(
            {
                "model": args.model, "backend": "pytorch", "precision": precision,
                "n_prompts": bs * args.batches, "max_input_tokens": args.input_tokens,
                "max_output_tokens": args.output_tokens, "fixed_output_length": True,
                "decoder": {"preset": "deterministic"}, "pytorch": {"batch_size": bs},
            },
            overrides=args.override,
            plugins=plugins,
        )  # fmt: skip

    backend = plugins.backend("pytorch")
    config = config_for(sizes[0])
    handle = backend.load(config, None)
    model, pad, device = handle.model, handle.pad_token_id, handle.device
    vocab = model.config.vocab_size
    rng = random.Random(0)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    for bs in sizes:
        config = config_for(bs)
        prompts = [
            [rng.randrange(3, vocab) for _ in range(args.input_tokens)] for _ in range(bs * args.batches)
        ]
        batches = [prompts[i : i + bs] for i in range(0, len(prompts), bs)]
        gen = _kwargs.generate_kwargs(config, max_new_tokens=args.output_tokens, fixed_output_length=True)
        gen_nomin = {k: v for k, v in gen.items() if k != "min_new_tokens"}
        clock = StepClock(device, capacity=args.output_tokens + 8)

        def plain(k, batch, kw=gen, procs=None):
            ids = torch.tensor(batch, device=device)
            mask = torch.ones_like(ids)
            torch.manual_seed(k)
            with torch.inference_mode():
                extra = {"logits_processor": procs} if procs is not None else {}
                out = model.generate(input_ids=ids, attention_mask=mask, pad_token_id=pad, **kw, **extra)
            out.tolist()
            return out.shape[0] * (out.shape[1] - ids.shape[1])

        def plain_clock(k, batch):
            from transformers import LogitsProcessorList

            clock.start(time.perf_counter())
            n = plain(k, batch, procs=LogitsProcessorList([clock]))
            clock.times_s()
            return n

        def llem_batch(k, batch):
            b = Batch(
                prompts=[Prompt(token_ids=p) for p in batch], max_new_tokens=args.output_tokens,
                fixed_output_length=True, index=k, phase="measure", seed=k,
            )  # fmt: skip
            out = backend.generate(handle, b, config)
            return sum(r.output_tokens for r in out.requests)

        def llem_sampler(k, batch):
            from llem.measure.telemetry import TelemetrySampler

            s = TelemetrySampler([0], 0.1).start() if cuda else None
            n = llem_batch(k, batch)
            if s is not None:
                s.stop()
            return n

        variants = {
            "plain": plain,
            "plain_no_min_new_tokens": lambda k, b: plain(k, b, kw=gen_nomin),
            "plain+step_clock": plain_clock,
            "llem_batch": llem_batch,
            "llem_batch+sampler": llem_sampler,
        }
        for fn in variants.values():  # warm-up
            fn(0, batches[0])
        tps: dict[str, list[float]] = {name: [] for name in variants}
        for r in range(args.runs):
            names = list(variants)
            if r % 2:
                names.reverse()
            for name in names:
                fn = variants[name]
                secs = toks = 0.0
                for k, batch in enumerate(batches):
                    sync()
                    t0 = time.perf_counter()
                    toks += fn(k, batch)
                    sync()
                    secs += time.perf_counter() - t0
                tps[name].append(toks / secs)
        base = statistics.median(tps["plain"])
        print(
            f"\n== batch {bs}, {args.input_tokens} in / {args.output_tokens} out, overrides {args.override}"
        )
        for name, vals in tps.items():
            med = statistics.median(vals)
            print(f"{name:28s} {med:10.1f} tok/s  ratio {med / base:.3f}  runs {[round(v, 1) for v in vals]}")
        if args.profile:
            for name in ("plain", "llem_batch"):
                prof = cProfile.Profile()
                prof.enable()
                variants[name](0, batches[0])
                prof.disable()
                buf = io.StringIO()
                pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(14)
                print(f"-- cProfile {name} (batch {bs}) --")
                print("\n".join(buf.getvalue().splitlines()[4:26]))
        if args.lifecycle:
            from llem.run.lifecycle import run_experiment

            res = run_experiment(config, plugins=plugins, output_dir="/tmp/llem-ablation")
            print(f"lifecycle (llem run): status {res.status}; " + _summary(res))


def _summary(res) -> str:
    import msgspec

    d = msgspec.to_builtins(res)
    m = d.get("metrics") or {}
    keys = [k for k in m if "per_s" in k or "tokens_per" in k]
    return ", ".join(f"{k}={m[k]}" for k in keys[:4])


if __name__ == "__main__":
    main()
