"""The static checks: everything that can be known wrong about an experiment before anything loads.

`llem config validate`, `llem run` and `llem study plan` all call `validate_experiment`, so a config that
validates is one that `run` will start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llem.config.introspect import get_backend_params, get_shared_params
from llem.config.resolve import to_dict
from llem.models.where import model_problems
from llem.plugins.enforce import capability_problems
from llem.plugins.types import DeviceInfo

if TYPE_CHECKING:
    from llem.config.experiment import ExperimentBase
    from llem.plugins.manager import LlemPlugins


def gpu_requirement_problems(config: ExperimentBase, device: DeviceInfo, plugins: LlemPlugins) -> list[str]:
    """Problems with settings whose declared GPU requirements this machine does not meet."""
    data = to_dict(config)
    params = {**get_shared_params(), **get_backend_params(config.backend, plugins)}
    problems = []
    have = device.min_cc
    for path, info in params.items():
        if not info.gpu:
            continue
        value = _get(data, path)
        if value is None or value is False:
            continue
        needed = info.gpu.get("value_min_compute_capability", {}).get(str(value))
        if needed is None and "min_compute_capability" in info.gpu:
            needed = info.gpu["min_compute_capability"]
        cuda = info.gpu.get("needs_cuda")
        needs_cuda = cuda is True or (isinstance(cuda, list) and value in cuda) or needed is not None
        if needs_cuda and not device.has_gpu:
            req = f" with compute capability {needed}+" if needed else ""
            problems.append(f"{path}: {value} needs an NVIDIA GPU{req}; none is visible")
        elif needed is not None and have is not None and have < needed:
            problems.append(f"{path}: {value} needs compute capability {needed}+, the GPU has {have}")
    return problems


def validate_experiment(config: ExperimentBase, device: DeviceInfo, plugins: LlemPlugins) -> list[str]:
    """All problems that would stop this experiment on this machine (empty when it can run): the model name,
    declared GPU requirements, the backend's declared capabilities, then the backend's own `llem_validate`.

    Raises UserError when the backend cannot be used at all (not installed, broken, conflicting), and
    PluginError when its validate hook fails."""
    backend = plugins.backend(config.backend)
    problems = model_problems(config.model)
    problems += gpu_requirement_problems(config, device, plugins)
    problems += capability_problems(config, backend.capabilities())
    problems += backend.validate(config, device)
    return problems


def _get(data: dict[str, Any], path: str) -> object:
    node: object = data
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
