"""The plugin system: hook specifications, the backend registry and entry-point discovery."""

from llem.plugins.hookspecs import hookimpl
from llem.plugins.manager import Backend, LlemPlugins, PluginStatus, get_plugin_manager
from llem.plugins.registry import BackendEntry, BackendRegistry
from llem.plugins.types import Batch, BatchOutput, Capabilities, DeviceInfo, GpuInfo, Prompt, RequestOutput

__all__ = [
    "Backend",
    "BackendEntry",
    "BackendRegistry",
    "Batch",
    "BatchOutput",
    "Capabilities",
    "DeviceInfo",
    "GpuInfo",
    "LlemPlugins",
    "PluginStatus",
    "Prompt",
    "RequestOutput",
    "get_plugin_manager",
    "hookimpl",
]
