"""GPU checks of the pytorch backend, each a full `run_experiment` on a random-weight
Llama-3.2-1B-shaped model.

For every scenario it prints throughput, energy per output token, latency, and what actually reached
transformers (model dtype and attention kernel, quantiser, compiled forward, the GenerationConfig generate
resolved, the KV cache object the model received, whether transformers auto-compiled the decode step), then
one JSON line per scenario.

On the lent H100 (python3 there has torch, transformers, accelerate, nvidia-ml-py; carry msgspec
and bitsandbytes):

    pip install --no-deps .whl/msgspec-*.whl .whl/bitsandbytes-*.whl
    pip install --no-deps -e core -e plugins/llem-pytorch
    python3 bench/gpu_pytorch.py                      # all scenarios
    python3 bench/gpu_pytorch.py --only bnb_4bit      # one (names below)
    python3 bench/pytorch_overhead.py --model random:llama-3.2-1b --precision bf16 --batch-size 8
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from typing import Any

SCENARIOS: dict[str, dict[str, Any]] = {
    "bf16_sdpa": {"attn_implementation": "sdpa"},
    "bf16_eager_attn": {"attn_implementation": "eager"},
    "torch_compile": {"torch_compile": True},
    "static_cache": {"cache_implementation": "static"},
    "static_cache_compile_reduce_overhead": {
        "cache_implementation": "static", "torch_compile": True, "torch_compile_mode": "reduce-overhead",
    },
    "bnb_4bit": {"load_in_4bit": True, "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_quant_type": "nf4"},
    "bnb_8bit": {"load_in_8bit": True},
}  # fmt: skip


class Seen:
    """What transformers received during one run, recorded by wrapping its entry points."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.model: Any = None  # kept: unload drops the handle's reference
        self.gen_config: Any = None
        self.cache_types: set[str] = set()
        self.auto_compile: set[bool] = set()

    def install(self) -> list[tuple[Any, str, Any]]:
        import llem_pytorch._load as load_mod
        from transformers import GenerationMixin

        undo = []

        def patch(owner: Any, name: str, make: Any) -> None:
            original = getattr(owner, name)
            undo.append((owner, name, original))
            setattr(owner, name, make(original))

        def wrap_load(original):
            def load(config, **kw):
                self.handle = original(config, **kw)
                model = self.model = self.handle.model
                forward = model.forward

                def spy_forward(*a, **k):
                    cache = k.get("past_key_values")
                    if cache is not None:
                        self.cache_types.add(type(cache).__name__)
                    return forward(*a, **k)

                model.forward = spy_forward
                return self.handle

            return load

        def wrap_prepare(original):
            def prepare(model, *a, **k):
                out = original(model, *a, **k)
                self.gen_config = out[0]
                return out

            return prepare

        def wrap_auto(original):
            def criteria(model, *a, **k):
                ok = original(model, *a, **k)
                self.auto_compile.add(bool(ok))
                return ok

            return criteria

        patch(load_mod, "load", wrap_load)
        patch(GenerationMixin, "_prepare_generation_config", wrap_prepare)
        if hasattr(GenerationMixin, "_valid_auto_compile_criteria"):
            patch(GenerationMixin, "_valid_auto_compile_criteria", wrap_auto)
        return undo

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        h = self.handle
        if self.model is not None:
            m = self.model
            out["model_dtype"] = str(m.dtype)
            out["attn_implementation"] = getattr(m.config, "_attn_implementation", None)
            q = getattr(m, "hf_quantizer", None)
            out["quantizer"] = type(q).__name__ if q is not None else None
            qc = getattr(m.config, "quantization_config", None)
            out["quantization_config"] = qc.to_dict() if hasattr(qc, "to_dict") else qc
            out["compiled_forward"] = bool(h.compiled) and getattr(m, "_compiled_call_impl", None) is not None
            out["device"] = str(h.device)
            out["memory_footprint_mib"] = round(m.get_memory_footprint() / 2**20, 1)
        g = self.gen_config
        if g is not None:
            keys = ("do_sample", "num_beams", "max_new_tokens", "min_new_tokens", "cache_implementation",
                    "use_cache", "prompt_lookup_num_tokens", "compile_config")  # fmt: skip
            out["generation_config"] = {k: repr(getattr(g, k, None)) for k in keys}
        out["kv_cache_types"] = sorted(self.cache_types)
        out["transformers_auto_compiled_decode"] = sorted(self.auto_compile)
        return out


def run_one(name: str, section: dict[str, Any], args: argparse.Namespace, out_dir: str) -> dict[str, Any]:
    from llem.config.resolve import load_experiment
    from llem.plugins import get_plugin_manager
    from llem.run import run_experiment

    plugins = get_plugin_manager()
    config = load_experiment(
        {
            "model": args.model, "backend": "pytorch", "name": name, "precision": "bf16",
            "n_prompts": args.prompts, "max_input_tokens": args.input_tokens,
            "max_output_tokens": args.output_tokens,
            "decoder": {"preset": "deterministic"}, "pytorch": {"batch_size": args.batch_size, **section},
            "measurement": {"warmup_batches": 2},
        },
        plugins=plugins,
    )  # fmt: skip
    seen = Seen()
    undo = seen.install()
    t = time.perf_counter()
    try:
        result = run_experiment(config, plugins=plugins, output_dir=out_dir)
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)
    wall = time.perf_counter() - t
    m, e = result.metrics, result.energy
    return {
        "scenario": name,
        "settings": section,
        "status": result.status,
        "error": result.error,
        "wall_s": round(wall, 1),
        "load_s": result.timings.load_s if hasattr(result.timings, "load_s") else None,
        "output_tokens": m.output_tokens,
        "output_tokens_per_s": m.output_tokens_per_s,
        "energy_measured": e.measured,
        "energy_j": e.total_j,
        "energy_j_bound": e.total_j_bound,
        "energy_per_output_token_j": m.energy_per_output_token_j,
        "dynamic_energy_per_output_token_j": m.dynamic_energy_per_output_token_j,
        "prefill_j": e.prefill_j,
        "decode_j": e.decode_j,
        "phase_split": e.phase_split,
        "ttft_p50_s": m.ttft_s.p50,
        "itl_p50_s": m.itl_s.p50,
        "timing_source": m.timing_source,
        "peak_memory_mib": m.peak_memory_mib,
        "notes": result.notes,
        "reached_transformers": seen.describe(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="random:llama-3.2-1b")
    ap.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these (repeatable)")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--input-tokens", type=int, default=128)
    ap.add_argument("--output-tokens", type=int, default=64)
    ap.add_argument("--out", default=None, help="result folders go here (default: a temporary folder)")
    args = ap.parse_args()

    import torch
    import transformers

    if not torch.cuda.is_available():
        print(
            "gpu_pytorch: no CUDA device visible to torch; these checks need an NVIDIA GPU", file=sys.stderr
        )
        sys.exit(2)
    print(
        f"GPU {torch.cuda.get_device_name(0)}; torch {torch.__version__}; transformers "
        f"{transformers.__version__}"
    )
    out_dir = args.out or tempfile.mkdtemp(prefix="llem-gpu-pytorch-")
    rows = []
    for name in args.only or list(SCENARIOS):
        print(f"\n=== {name}: pytorch {SCENARIOS[name]} ===", flush=True)
        try:
            row = run_one(name, SCENARIOS[name], args, out_dir)
        except Exception as exc:  # a refused config (UserError) or a crash: report it, go on to the next one
            row = {"scenario": name, "status": "error", "error": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc(limit=3)}  # fmt: skip
        rows.append(row)
        if row.get("status") == "ok":
            tps = row["output_tokens_per_s"]
            jpt = row["energy_per_output_token_j"]
            print(
                f"{name}: {tps:.1f} output tokens/s; "
                f"{f'{jpt:.4f} J/output token' if jpt is not None else 'energy per token not reported'}; "
                f"ttft p50 {row['ttft_p50_s']}; itl p50 {row['itl_p50_s']}"
            )
        else:
            print(f"{name}: {row.get('status')}: {row.get('error')}")
        print("reached transformers:", json.dumps(row.get("reached_transformers"), default=str, indent=1))
        print("notes:", row.get("notes"))
        torch.cuda.empty_cache()
    print("\nJSON")
    for row in rows:
        print(json.dumps(row, default=str))


if __name__ == "__main__":
    main()
