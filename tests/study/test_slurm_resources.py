"""What a study's SLURM job asks for, derived from the experiment config and the study estimate."""

from __future__ import annotations

import pytest
from llem.study.resources import job_resources, world_size
from llem.study.slurm_config import SlurmSettings


def test_world_size_comes_from_gpu_indices_or_the_parallel_sizes():
    assert world_size({"backend": "x", "x": {"tensor_parallel_size": 4, "pipeline_parallel_size": 2}}) == 8
    assert world_size({"backend": "x", "x": {"tensor_parallel_size": 2}}) == 2
    assert world_size({"backend": "x", "measurement": {"gpu_indices": [0, 1, 2]}, "x": {}}) == 3
    assert world_size({"backend": "x", "x": {"batch_size": 8}}) == 1


def test_gpus_cpus_and_memory_follow_the_config_unless_the_study_says_otherwise():
    tp2 = {"backend": "x", "x": {"tensor_parallel_size": 2}}
    res = job_resources([tp2], [60.0], 3600, SlurmSettings())
    assert (res.gpus, res.cpus, res.mem_gb) == (2, 16, None)  # 8 CPUs per GPU by default
    res = job_resources([tp2], [60.0], 3600, SlurmSettings(gpus_per_job=0, mem_gb=32))
    assert (res.gpus, res.cpus, res.mem_gb) == (0, 1, 32)
    assert job_resources([tp2], [60.0], 3600, SlurmSettings(cpus_per_job=5)).cpus == 5


@pytest.mark.parametrize(
    ("estimates", "timeout_s", "settings", "minutes"),
    [
        ([1800.0], 7200, SlurmSettings(), 60),  # 30 min estimated x margin 2
        ([1800.0, 1800.0], 7200, SlurmSettings(time_margin=1.5), 90),  # a job of two experiments
        ([30.0], 7200, SlurmSettings(), 10),  # never below min_time_min
        ([3000.0], 3600, SlurmSettings(), 60),  # never above timeout_s per experiment
        ([30.0], 3600, SlurmSettings(time_min=240), 240),  # an explicit limit wins
    ],
)
def test_the_time_limit_is_the_estimate_with_a_margin_within_bounds(estimates, timeout_s, settings, minutes):
    configs = [{"backend": "x", "x": {}}] * len(estimates)
    assert job_resources(configs, estimates, timeout_s, settings).time_min == minutes


def test_study_plan_shows_the_jobs_a_slurm_study_would_submit(tmp_path, llem_cli):
    pytest.importorskip("llem_pytorch")
    study = tmp_path / "s.yaml"
    study.write_text(
        "base: {model: random:tiny-llama, backend: pytorch, n_prompts: 4, max_output_tokens: 8}\n"
        "sweep: {pytorch.batch_size: [1, 2]}\ncycles: 3\nexecutor: slurm\n"
        "slurm: {partition: gpu, gpus_per_job: 1, mem_gb: 16, time_margin: 3}\n"
    )
    r = llem_cli("study", "plan", str(study))
    assert r.exit_code == 0, r.output
    assert "executor slurm: 6 jobs (partition gpu)" in r.stdout
    assert "6 job(s): 1 GPU, 8 CPU, 16 GB, time limit 10 min (estimate × time_margin 3" in r.stdout


def test_a_login_node_without_gpus_plans_for_the_compute_nodes_gpus(tmp_path, llem_cli):
    pytest.importorskip("llem_pytorch")
    study = tmp_path / "s.yaml"
    study.write_text(
        "base: {model: random:tiny-llama, backend: pytorch, n_prompts: 4, max_output_tokens: 8}\n"
        "sweep: {pytorch.attn_implementation: [sdpa, flash_attention_3]}\nexecutor: slurm\n"
    )
    here = llem_cli("study", "plan", str(study))  # this CPU machine: the Hopper-only kernel is pruned
    assert here.exit_code == 0, here.output
    assert "pruned (1)" in here.stdout and "flash_attention_3 needs" in here.stdout
    with study.open("a") as f:
        f.write("slurm: {node_gpus: {name: NVIDIA H100 80GB HBM3, compute_capability: [9, 0], count: 8}}\n")
    # through the API: on this CPU-torch machine every point may end up pruned, which the CLI refuses (exit 2)
    import msgspec
    from llem.study.api import plan

    planned = msgspec.to_builtins(plan(study))
    assert (
        planned["device"]["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
        and len(planned["device"]["gpus"]) == 8
    )
    pruned = [p["reason"] for p in planned["pruned"]]
    # no longer pruned for want of a GPU (the backend's checks of this machine's packages still apply: here a
    # CPU build of torch, which a cluster's login node sharing the nodes' environment would not have)
    assert pruned and not any("compute capability" in r for r in pruned)
