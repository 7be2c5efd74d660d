"""Overhead of llem's PyTorch generate path against a hand-written transformers loop (goal: ratio >= 0.99).

Both sides use the same loaded model, prompts, batches and generate settings (the kwargs come from the same
config); llem's side goes through the plugin's `llem_generate` hook (padding, step clock, first-token mark with its
one GPU sync, token counting, per-request timings), the hand side is a plain `model.generate` loop. Runs are
interleaved batch by batch (alternating which side goes first) so drift in machine load hits both sides alike; the figure is the median over runs.

    python3 bench/pytorch_overhead.py                                     # CPU, tiny model
    python3 bench/pytorch_overhead.py --model random:llama-3.2-1b --precision bf16 --batch-size 8
    python3 bench/pytorch_overhead.py -o pytorch.cache_implementation=static
"""

from __future__ import annotations

import argparse
import random
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="random:tiny-llama")
    ap.add_argument("--precision", default=None, help="fp32/fp16/bf16 (default: bf16 on GPU, fp32 on CPU)")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--input-tokens", type=int, default=32)
    ap.add_argument("--output-tokens", type=int, default=32)
    ap.add_argument("--runs", type=int, default=7, help="timed runs per side (median reported; >= 5)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("-o", "--override", action="append", default=[], help="config override, e.g. pytorch.x=y")
    args = ap.parse_args()
    if args.runs < 5:
        ap.error("--runs must be >= 5")

    import torch
    from llem.config.resolve import load_experiment
    from llem.plugins import Batch, Prompt, get_plugin_manager
    from llem_pytorch import _kwargs

    cuda = torch.cuda.is_available()
    if args.threads:
        torch.set_num_threads(args.threads)
    precision = args.precision or ("bf16" if cuda else "fp32")
    plugins = get_plugin_manager()
    config = load_experiment(
        {
            "model": args.model, "backend": "pytorch", "precision": precision, "n_prompts": args.prompts,
            "max_input_tokens": args.input_tokens, "max_output_tokens": args.output_tokens,
            "fixed_output_length": True, "decoder": {"preset": "deterministic"},
            "pytorch": {"batch_size": args.batch_size},
        },
        overrides=args.override,
        plugins=plugins,
    )  # fmt: skip
    backend = plugins.backend("pytorch")
    t = time.perf_counter()
    handle = backend.load(config, None)
    load_s = time.perf_counter() - t
    model, pad = handle.model, handle.pad_token_id
    vocab = model.config.vocab_size
    rng = random.Random(0)
    prompts = [[rng.randrange(3, vocab) for _ in range(args.input_tokens)] for _ in range(args.prompts)]
    batches = [prompts[i : i + args.batch_size] for i in range(0, len(prompts), args.batch_size)]
    gen_kwargs = _kwargs.generate_kwargs(config, max_new_tokens=args.output_tokens, fixed_output_length=True)
    device = handle.device

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def llem_batch(k: int, batch: list[list[int]]) -> int:
        b = Batch(
            prompts=[Prompt(token_ids=p) for p in batch], max_new_tokens=args.output_tokens,
            fixed_output_length=True, index=k, phase="measure", seed=k, mark_first_token=lambda: None,
        )  # fmt: skip
        out = backend.generate(handle, b, config)
        return sum(r.output_tokens for r in out.requests)

    def hand_batch(k: int, batch: list[list[int]]) -> int:
        width = max(len(p) for p in batch)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
        torch.manual_seed(k)
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), pad_token_id=pad, **gen_kwargs
            )
        out.tolist()  # bring the ids to the host, as any user of the output must
        return out[:, width:].numel()  # fixed output length: every generated position is a token

    def timed(fn, k: int, batch: list[list[int]]) -> tuple[float, int]:
        sync()
        t0 = time.perf_counter()
        n = fn(k, batch)
        sync()
        return time.perf_counter() - t0, n

    def one_run(r: int) -> tuple[float, float]:
        """Both sides over all batches, alternating which goes first batch by batch (noise hits both alike)."""
        secs = {llem_batch: 0.0, hand_batch: 0.0}
        toks = {llem_batch: 0, hand_batch: 0}
        for k, batch in enumerate(batches):
            order = (llem_batch, hand_batch) if (r + k) % 2 == 0 else (hand_batch, llem_batch)
            for fn in order:
                s, n = timed(fn, k, batch)
                secs[fn] += s
                toks[fn] += n
        return toks[llem_batch] / secs[llem_batch], toks[hand_batch] / secs[hand_batch]

    one_run(0)  # warm-up: allocator, kernels, compile caches
    llem_tps, hand_tps = [], []
    for r in range(args.runs):
        a, b = one_run(r)
        llem_tps.append(a)
        hand_tps.append(b)
    backend.unload(handle)

    med_llem, med_hand = statistics.median(llem_tps), statistics.median(hand_tps)
    pair = statistics.median(a / b for a, b in zip(llem_tps, hand_tps, strict=True))
    dev = torch.cuda.get_device_name(0) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {dev}; torch {torch.__version__}")
    print(
        f"model {args.model} {precision}; {args.prompts} prompts x {args.input_tokens} in / {args.output_tokens} out, "
        f"batch {args.batch_size}; overrides {args.override or 'none'}; load {load_s:.1f} s"
    )
    print(f"llem tokens/s: median {med_llem:10.1f}   runs {[round(x, 1) for x in llem_tps]}")
    print(f"hand tokens/s: median {med_hand:10.1f}   runs {[round(x, 1) for x in hand_tps]}")
    print(
        f"ratio llem/hand: {med_llem / med_hand:.4f} (medians), {pair:.4f} (median of paired runs); goal >= 0.99"
    )


if __name__ == "__main__":
    main()
