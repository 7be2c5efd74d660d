"""Checks made before loading: one line per problem, naming the field and saying why.

Which optional packages are installed differs between machines, so tests that need a package present or absent
set `llem_pytorch._validate.installed` explicitly; GPUs cannot exist here, so GPU machines are
DeviceInfo values.
"""

from __future__ import annotations

import pytest
import torch
from llem.plugins import DeviceInfo, GpuInfo
from llem.plugins.validate import validate_experiment
from llem.run.api import load_config
from llem_pytorch import _validate

CPU = DeviceInfo()
H100 = DeviceInfo(gpus=(GpuInfo(index=0, name="NVIDIA H100", compute_capability=(9, 0)),))
TWO_A100 = DeviceInfo(
    gpus=tuple(GpuInfo(index=i, name="NVIDIA A100", compute_capability=(8, 0)) for i in range(2))
)
T4 = DeviceInfo(gpus=(GpuInfo(index=0, name="Tesla T4", compute_capability=(7, 5)),))


def experiment(pytorch: dict | None = None, **top):
    return load_config({"model": "random:tiny-llama", "backend": "pytorch", "pytorch": pytorch or {}, **top})


@pytest.fixture
def packages(monkeypatch):
    """Pretend exactly these optional packages are installed."""

    def _set(*names: str) -> None:
        monkeypatch.setattr(_validate, "installed", lambda module: module in names)

    return _set


@pytest.fixture
def cuda_torch(monkeypatch):
    """Behave as a CUDA build of torch would (this machine's torch is a CPU build)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_default_config_has_no_problems_on_cpu(llem_plugins):
    assert validate_experiment(experiment(), CPU, llem_plugins) == []


@pytest.mark.parametrize(
    ("value", "module"), [("flash_attention_2", "flash_attn"), ("flash_attention_3", "flash_attn_interface")]
)
def test_flash_attention_needs_its_package(packages, cuda_torch, value, module):
    packages()
    found = _validate.problems(experiment({"attn_implementation": value}), H100)
    assert len(found) == 1
    assert found[0].startswith("pytorch.attn_implementation:") and module in found[0]
    packages(module)
    assert _validate.problems(experiment({"attn_implementation": value}), H100) == []


@pytest.mark.parametrize("field", ["load_in_4bit", "load_in_8bit"])
def test_bitsandbytes_and_accelerate_must_import(packages, cuda_torch, field):
    packages()
    found = _validate.problems(experiment({field: True}), H100)
    assert any(f"pytorch.{field}" in p and "bitsandbytes package" in p for p in found)
    assert any(f"pytorch.{field}" in p and "accelerate" in p for p in found)
    packages("bitsandbytes", "accelerate")
    assert _validate.problems(experiment({field: True}), H100) == []


@pytest.mark.parametrize(("field", "value"), [("device_map", "auto"), ("max_memory", {"cpu": "8GiB"})])
def test_device_placement_needs_accelerate(packages, field, value):
    packages()
    assert _validate.problems(experiment({field: value}), CPU) == [
        f"pytorch.{field}: transformers needs the accelerate package for device placement"
    ]
    packages("accelerate")
    assert _validate.problems(experiment({field: value}), CPU) == []


def test_offloaded_static_refused_on_cpu_once(llem_plugins):
    problems = validate_experiment(
        experiment({"cache_implementation": "offloaded_static"}), CPU, llem_plugins
    )
    assert len(problems) == 1
    assert problems[0].startswith("pytorch.cache_implementation: offloaded_static needs an NVIDIA GPU")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch build without CUDA")
def test_gpu_visible_but_torch_without_cuda_is_refused(packages):
    packages("accelerate")
    found = _validate.problems(experiment({"cache_implementation": "offloaded_static"}), H100)
    assert found == [
        f"pytorch.cache_implementation: offloaded_static needs CUDA, but this torch ({torch.__version__}) "
        "cannot use CUDA"
    ]
    found = _validate.problems(experiment(), H100)
    assert len(found) == 1 and "model would run on the CPU while the GPU is measured" in found[0]
    assert _validate.problems(experiment({"device_map": "cpu"}), H100) == []  # running on the CPU on purpose


def test_flash_attention_3_refused_below_hopper(llem_plugins, packages, cuda_torch):
    packages("flash_attn_interface")
    problems = validate_experiment(
        experiment({"attn_implementation": "flash_attention_3"}), TWO_A100, llem_plugins
    )
    assert problems == [
        "pytorch.attn_implementation: flash_attention_3 needs compute capability 9.0+, the GPU has 8.0"
    ]


def test_bf16_refused_before_ampere(cuda_torch):
    assert _validate.problems(experiment(precision="bf16"), T4) == [
        "precision: bf16 needs compute capability 8.0+ on the GPU, this one has 7.5; use fp16"
    ]
    assert _validate.problems(experiment(precision="fp16"), T4) == []


def test_num_processes_needs_one_gpu_each(cuda_torch):
    found = _validate.problems(experiment({"num_processes": 4}), TWO_A100)
    assert found == ["pytorch.num_processes: 4 data-parallel workers need 4 GPUs (one each), 2 visible"]
    assert _validate.problems(experiment({"num_processes": 2}), TWO_A100) == []


def test_num_processes_runs_on_cpu_without_gpus():
    assert _validate.problems(experiment({"num_processes": 2}), CPU) == []


def test_num_processes_excludes_device_map(packages):
    packages("accelerate")
    found = _validate.problems(experiment({"num_processes": 2, "device_map": "auto"}), CPU)
    assert len(found) == 1 and found[0].startswith(
        "pytorch.device_map: cannot be combined with num_processes"
    )
