"""Plugin manager factory and entry-point discovery, with each plugin isolated from the others' failures.

We iterate `importlib.metadata.entry_points(group="llem.backends")` ourselves instead of pluggy's
`load_setuptools_entrypoints`, so that one plugin that fails to import or register is listed as broken instead of
crashing the host. `LLEM_STRICT_PLUGINS=1` re-raises such failures; `LLEM_DISABLE_PLUGINS=a,b` skips plugins.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import msgspec
import pluggy

from llem.config.base import Section
from llem.config.experiment import ExperimentBase
from llem.config.schema import experiment_type
from llem.errors import UserError, one_line
from llem.plugins import hookspecs
from llem.plugins.registry import BackendEntry, BackendRegistry, RegistrationError
from llem.plugins.types import Batch, BatchOutput, Capabilities, DeviceInfo

ENTRY_POINT_GROUP = "llem.backends"
REQUIRED_HOOKS = ("llem_register_backends", "llem_load", "llem_generate", "llem_capabilities")


class PluginStatus(msgspec.Struct, kw_only=True):
    """One plugin as `llem backends list` shows it."""

    name: str
    status: Literal["ok", "broken", "disabled"]
    backend: str | None = None
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    hooks: list[str] = msgspec.field(default_factory=list)
    error: str | None = None


class Backend:
    """One registered backend; its hook calls reach only the plugin that registered it."""

    def __init__(self, entry: BackendEntry, pm: pluggy.PluginManager, others: list[Any]) -> None:
        self.entry = entry
        self.name = entry.name
        self._pm = pm
        self._others = others

    def _hook(self, name: str) -> Any:
        return self._pm.subset_hook_caller(name, remove_plugins=self._others)

    def validate(self, config: ExperimentBase, device: DeviceInfo) -> list[str]:
        results = self._hook("llem_validate")(config=config, device=device)
        return [problem for result in results if result for problem in result]

    def build_engine(self, config: ExperimentBase, cache_dir: Path) -> Any:
        return self._hook("llem_build_engine")(config=config, cache_dir=cache_dir)

    def load(self, config: ExperimentBase, engine: Any) -> Any:
        return self._hook("llem_load")(config=config, engine=engine)

    def generate(self, handle: Any, batch: Batch, config: ExperimentBase) -> BatchOutput:
        return self._hook("llem_generate")(handle=handle, batch=batch, config=config)

    def capabilities(self) -> Capabilities:
        return self._hook("llem_capabilities")()

    def unload(self, handle: Any) -> None:
        self._hook("llem_unload")(handle=handle)


class LlemPlugins:
    """A plugin manager with llem's hook specs, the registered backends and each plugin's status."""

    def __init__(self, *, strict: bool = False, disabled: frozenset[str] = frozenset()) -> None:
        self.pm = pluggy.PluginManager("llem")
        self.pm.add_hookspecs(hookspecs)
        self.registry = BackendRegistry()
        self.statuses: dict[str, PluginStatus] = {}
        self.strict = strict
        self.disabled = disabled

    # -- registration ---------------------------------------------------------------------------------------
    def register(self, plugin: Any, name: str, *, distribution: str | None = None, version: str | None = None) -> bool:
        """Register a plugin object; returns False (and records it as broken) if it fails."""
        status = PluginStatus(
            name=name, status="ok", distribution=distribution, version=version, module=_module_name(plugin)
        )
        self.statuses[name] = status
        if name in self.disabled:
            status.status = "disabled"
            return False
        try:
            self.pm.register(plugin, name=name)
            status.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            missing = [h for h in REQUIRED_HOOKS if h not in status.hooks]
            if missing:
                raise RegistrationError(f"does not implement {', '.join(missing)}")
            impl = plugin.llem_register_backends
            try:
                impl(register=self.registry._for_plugin(name, plugin))
            finally:
                self.registry._done()
            entry = next((e for e in self.registry.entries.values() if e.plugin is plugin), None)
            if entry is None:
                raise RegistrationError("llem_register_backends registered no backend")
            status.backend = entry.name
            return True
        except Exception as exc:
            self._mark_broken(plugin, status, exc)
            return False

    def _mark_broken(self, plugin: Any, status: PluginStatus, exc: BaseException) -> None:
        if plugin is not None:
            self.registry._drop_plugin(plugin)
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
        status.status = "broken"
        status.error = one_line(exc, where=True)
        if self.strict:
            raise exc

    def load_entry_points(self) -> None:
        """Load every `llem.backends` entry point, isolating failures."""
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else None
            dist_version = dist.version if dist is not None else None
            if ep.name in self.statuses:  # the same name from two distributions: keep the first
                continue
            if ep.name in self.disabled:
                self.statuses[ep.name] = PluginStatus(
                    name=ep.name, status="disabled", distribution=dist_name, version=dist_version, module=ep.value
                )
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                status = PluginStatus(
                    name=ep.name, status="broken", distribution=dist_name, version=dist_version, module=ep.value
                )
                self.statuses[ep.name] = status
                self._mark_broken(None, status, exc)
                continue
            self.register(plugin, ep.name, distribution=dist_name, version=dist_version)

    # -- queries ----------------------------------------------------------------------------------------------
    @property
    def backends(self) -> dict[str, BackendEntry]:
        return self.registry.entries

    def backend(self, name: str) -> Backend:
        """The backend `name`; a UserError naming the installed ones if it is not installed or broken."""
        entries = self.backends
        if name not in entries:
            status = self.statuses.get(name)
            if status is not None and status.status == "broken":
                raise UserError(f"backend {name!r} is installed but broken: {status.error}")
            if status is not None and status.status == "disabled":
                raise UserError(f"backend {name!r} is disabled by LLEM_DISABLE_PLUGINS")
            installed = ", ".join(sorted(entries)) or "none"
            raise UserError(
                f"backend {name!r} is not installed (installed: {installed}); pip install llem-{name} adds it"
            )
        entry = entries[name]
        others = [e.plugin for e in entries.values() if e.plugin is not entry.plugin]
        return Backend(entry, self.pm, others)

    def sections(self) -> dict[str, type[Section]]:
        return {name: e.config for name, e in self.backends.items()}

    def experiment_type(self) -> type[ExperimentBase]:
        """The ExperimentConfig Struct for the backends registered here."""
        return experiment_type(self.sections())


def get_plugin_manager(*, entry_points: bool = True, strict: bool | None = None) -> LlemPlugins:
    """A fresh plugin manager (no global): entry-point plugins loaded unless `entry_points=False`."""
    if strict is None:
        strict = os.environ.get("LLEM_STRICT_PLUGINS", "") not in ("", "0")
    disabled = frozenset(p.strip() for p in os.environ.get("LLEM_DISABLE_PLUGINS", "").split(",") if p.strip())
    plugins = LlemPlugins(strict=strict, disabled=disabled)
    if entry_points:
        plugins.load_entry_points()
    return plugins


def _module_name(plugin: Any) -> str | None:
    return getattr(plugin, "__name__", None) or type(plugin).__module__
