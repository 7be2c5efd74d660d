"""Checks that need the whole experiment or the machine, made before vLLM starts (one line each,
naming the field)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llem.kit.parallel import world_size, world_size_problems

from llem_vllm._config import VLLMConfig

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.types import DeviceInfo


def problems(config: ExperimentBase, device: DeviceInfo) -> list[str]:
    vc = config.section(VLLMConfig)
    out: list[str] = []
    if vc.mode == "server":
        try:
            from llem_server._validate import serving_problems
        except ImportError:
            return ["vllm.mode: server needs the llem-server package (pip install llem-server)"]
        out += serving_problems(config, "completions", "vllm")
        if vc.per_token_timestamps is not None:
            out.append(
                "vllm.per_token_timestamps: offline mode only; in server mode every streamed token is timed"
            )
    elif config.load is not None:
        out.append("load: vLLM measures a load only as a server: set vllm.mode: server (or remove load)")
    elif vc.server_port is not None or vc.server_ready_timeout_s is not None:
        out.append("vllm.server_port/server_ready_timeout_s apply to mode: server only")
    ranks = world_size(vc.tensor_parallel_size, vc.pipeline_parallel_size)
    out += world_size_problems(
        "vllm.tensor_parallel_size", "ranks (tensor × pipeline parallel)", ranks, device
    )
    if config.fixed_output_length and vc.ignore_eos is False:
        out.append(
            "vllm.ignore_eos: false contradicts fixed_output_length: true (llem sets ignore_eos to generate "
            "exactly max_output_tokens); remove it or set fixed_output_length: false"
        )
    needed = config.max_input_tokens + config.max_output_tokens
    if vc.max_model_len is not None and vc.max_model_len < needed:
        out.append(
            f"vllm.max_model_len: {vc.max_model_len} is shorter than max_input_tokens + "
            f"max_output_tokens = {needed}"
        )
    dec = config.decoder
    if not dec.greedy and dec.top_p == 0.0:
        out.append(
            "decoder.top_p: vLLM needs top_p in (0, 1]; 0 is refused (use decoder.do_sample: "
            "false for greedy)"
        )
    if (vc.n or 1) > 1 and dec.greedy:
        out.append(f"vllm.n: {vc.n} completions need sampling; vLLM refuses n > 1 with greedy decoding")
    if vc.kv_cache_memory_bytes is not None and vc.gpu_memory_utilization is not None:
        out.append(
            "vllm.kv_cache_memory_bytes: set together with gpu_memory_utilization, vLLM sizes the KV cache "
            "from kv_cache_memory_bytes alone; remove one of them"
        )
    return out
