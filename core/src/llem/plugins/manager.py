"""Plugin manager factory and entry-point discovery, with each plugin isolated from the others' failures.

We iterate `importlib.metadata.entry_points(group="llem.backends")` ourselves instead of pluggy's
`load_setuptools_entrypoints`, so that one plugin that fails to import or register is listed as broken
instead of crashing the host. `LLEM_STRICT_PLUGINS=1` re-raises such failures;
`LLEM_DISABLE_PLUGINS=a,b` skips plugins.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, Literal

import msgspec
import pluggy

from llem.config.base import Section
from llem.config.experiment import ExperimentBase
from llem.config.schema import experiment_type
from llem.errors import UserError, one_line
from llem.plugins import hookspecs
from llem.plugins.contract import EngineT, HandleT
from llem.plugins.registry import BackendEntry, BackendRegistry, RegistrationError
from llem.plugins.types import Batch, Capabilities, DeviceInfo

ENTRY_POINT_GROUP = "llem.backends"
REQUIRED_HOOKS = ("llem_register_backends", "llem_load", "llem_generate", "llem_capabilities")
# Backends published by the llem project: only these names get an "install it" hint (any other name might be
# a typo, and suggesting `pip install llem-<typo>` would invite typosquatting).
OFFICIAL_BACKENDS = ("pytorch", "vllm", "tensorrt")


class PluginStatus(msgspec.Struct, kw_only=True):
    """One plugin as `llem backends list` shows it."""

    name: str
    status: Literal["ok", "broken", "disabled", "conflict"]
    backend: str | None = None
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    hooks: list[str] = msgspec.field(default_factory=list)
    error: str | None = None


class PluginError(UserError):
    """A plugin failed in a hook the core calls before loading anything (the plugin's bug, not the config)."""


class Backend(Generic[HandleT, EngineT]):
    """One registered backend; its hook calls reach only the plugin that registered it.

    Generic in the backend's handle and engine types; the core holds them without looking inside
    (`Backend[object, object]`, what `LlemPlugins.backend` returns), a backend's own code names them.
    """

    def __init__(
        self, entry: BackendEntry, pm: pluggy.PluginManager, others: list[Any], caps: Capabilities
    ) -> None:
        self.entry = entry
        self.name = entry.name
        self._pm = pm
        self._others = others
        self._caps = caps

    def _hook(self, name: str) -> Any:
        return self._pm.subset_hook_caller(name, remove_plugins=self._others)

    def validate(self, config: ExperimentBase, device: DeviceInfo) -> list[str]:
        """The backend's own problems with `config`; a PluginError (one line) if its hook raises or answers
        something other than a list of strings."""
        try:
            results = self._hook("llem_validate")(config=config, device=device)
        except Exception as exc:
            raise PluginError(
                f"backend {self.name!r} is broken: llem_validate raised {one_line(exc, where=True)}"
            ) from exc
        problems: list[str] = []
        for result in results:
            if result is None:
                continue
            if not isinstance(result, (list, tuple)) or not all(isinstance(p, str) for p in result):
                raise PluginError(
                    f"backend {self.name!r} is broken: llem_validate returned {type(result).__name__}, "
                    "not a list of strings"
                )
            problems.extend(result)
        return problems

    def build_engine(self, config: ExperimentBase, cache_dir: Path) -> EngineT | None:
        engine: EngineT | None = self._hook("llem_build_engine")(config=config, cache_dir=cache_dir)
        return engine

    def prepare(self, config: ExperimentBase) -> None:
        """The backend's optional `llem_prepare` (imports ahead of time); nothing when it has none."""
        self._hook("llem_prepare")(config=config)

    def load(self, config: ExperimentBase, engine: EngineT | None) -> HandleT:
        handle: HandleT = self._hook("llem_load")(config=config, engine=engine)
        return handle

    def generate(self, handle: HandleT, batch: Batch, config: ExperimentBase) -> object:
        """What the plugin returned, unchecked (the core checks it: run.output_checks)."""
        out: object = self._hook("llem_generate")(handle=handle, batch=batch, config=config)
        return out

    def capabilities(self) -> Capabilities:
        """What the backend declared at discovery (checked then: a plugin whose answer was bad is broken)."""
        return self._caps

    def unload(self, handle: HandleT) -> None:
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
        self._caps: dict[str, Capabilities] = {}

    # -- registration ---------------------------------------------------------------------------------------
    def register(
        self, plugin: Any, name: str, *, distribution: str | None = None, version: str | None = None
    ) -> bool:
        """Register a plugin object; returns False (and records it as broken or conflicting) if it cannot be
        used. Any failure but KeyboardInterrupt is the plugin's: it never reaches the caller."""
        status = PluginStatus(
            name=name, status="ok", distribution=distribution, version=version, module=_module_name(plugin)
        )
        key = self._key(name, distribution)
        self.statuses[key] = status
        if name in self.disabled:
            status.status = "disabled"
            return False
        try:
            self._register(plugin, key, status)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self._mark_broken(plugin, status, exc)
            return False
        return self._check_conflict(plugin)

    def _register(self, plugin: Any, key: str, status: PluginStatus) -> None:
        if self.pm.is_registered(plugin):
            other = self.pm.get_name(plugin)
            raise RegistrationError(f"the same plugin object is already registered as {other!r}")
        unmarked = _unmarked_hooks(plugin)
        self.pm.register(plugin, name=key)
        status.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
        try:
            self.pm.check_pending()  # every plugin before this one passed: a failure here is this one's
        except pluggy.PluginValidationError:
            unknown = [h for h in status.hooks if not hasattr(hookspecs, h)]
            raise RegistrationError(
                "implements hooks llem does not define: " + ", ".join(_with_suggestion(h) for h in unknown)
            ) from None
        if unmarked:
            raise RegistrationError(
                f"{', '.join(unmarked)} not marked @hookimpl (llem would never call "
                f"{'them' if len(unmarked) > 1 else 'it'})"
            )
        missing = [h for h in REQUIRED_HOOKS if h not in status.hooks]
        if missing:
            raise RegistrationError(f"does not implement {', '.join(missing)}")
        try:
            plugin.llem_register_backends(register=self.registry._for_plugin(key, plugin))
        finally:
            self.registry._done()
        entry = self.registry.entry_of(plugin)
        if entry is None:
            raise RegistrationError("llem_register_backends registered no backend")
        status.backend = entry.name
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        try:
            caps = self.pm.subset_hook_caller("llem_capabilities", remove_plugins=others)()
        except Exception as exc:
            raise RegistrationError(f"llem_capabilities raised {one_line(exc, where=True)}") from exc
        if not isinstance(caps, Capabilities):
            raise RegistrationError(
                f"llem_capabilities returned {type(caps).__name__}, not llem Capabilities"
            )
        self._caps[key] = caps

    def _check_conflict(self, plugin: Any) -> bool:
        """Mark every claimant of a name claimed twice as conflicting; True if this plugin is usable."""
        entry = self.registry.entry_of(plugin)
        assert entry is not None
        claimants = self.registry.conflicts.get(entry.name)
        if not claimants:
            return True
        for claimant in claimants:
            status = self.statuses[claimant.plugin_name]
            others = [self._provider(c.plugin_name) for c in claimants if c is not claimant]
            status.status = "conflict"
            status.error = (
                f"backend {entry.name!r} is also registered by {', '.join(others)}: neither is used until "
                "one is uninstalled"
            )
        return False

    def _provider(self, key: str) -> str:
        s = self.statuses[key]
        if s.distribution:
            return f"{s.distribution} {s.version or ''}".strip()
        return f"plugin {s.name!r}"

    def _key(self, name: str, distribution: str | None) -> str:
        """The status key of a plugin: its entry-point name, with the distribution added when two
        distributions declare the same entry-point name (both are kept, so their backends conflict)."""
        if name not in self.statuses:
            return name
        key = f"{name} ({distribution or 'unknown'})"
        n = 2
        while key in self.statuses:
            key, n = f"{name} ({distribution or 'unknown'} #{n})", n + 1
        return key

    def _mark_broken(self, plugin: Any, status: PluginStatus, exc: BaseException) -> None:
        if plugin is not None:
            self.registry._drop_plugin(plugin)
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
        status.status = "broken"
        # RegistrationError messages are llem's own sentences; anything else is the plugin's, with its origin
        status.error = (
            " ".join(str(exc).split()) if isinstance(exc, RegistrationError) else one_line(exc, where=True)
        )
        if self.strict:
            raise exc

    def load_entry_points(self, only: frozenset[str] | None = None) -> None:
        """Load every `llem.backends` entry point (or those named in `only`), isolating failures (anything but
        KeyboardInterrupt)."""
        eps = [e for e in metadata.entry_points(group=ENTRY_POINT_GROUP) if only is None or e.name in only]
        for ep in sorted(eps, key=lambda e: (e.name, _dist(e)[0] or "")):
            dist_name, dist_version = _dist(ep)
            if ep.name in self.disabled:
                self._record(ep, "disabled")
                continue
            try:
                plugin = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit from a plugin's import must not end the host
                self._mark_broken(None, self._record(ep, "broken"), exc)
                continue
            self.register(plugin, ep.name, distribution=dist_name, version=dist_version)

    def _record(self, ep: metadata.EntryPoint, state: Literal["broken", "disabled"]) -> PluginStatus:
        """The status of an entry point that was never registered (disabled, or failed to import)."""
        dist_name, dist_version = _dist(ep)
        status = PluginStatus(
            name=ep.name, status=state, distribution=dist_name, version=dist_version, module=ep.value
        )
        self.statuses[self._key(ep.name, dist_name)] = status
        return status

    # -- queries ------------------------------------------------------------------------------------------
    @property
    def backends(self) -> dict[str, BackendEntry]:
        """Usable backends by name (not broken, disabled or conflicting)."""
        return self.registry.entries

    def known_names(self) -> set[str]:
        """Every name a config might mean as a backend: usable, broken, disabled, conflicting and official."""
        return (
            set(OFFICIAL_BACKENDS)
            | set(self.backends)
            | set(self.registry.conflicts)
            | {s.name for s in self.statuses.values()}
            | {s.backend for s in self.statuses.values() if s.backend}
        )

    def unavailable_reason(self, name: str) -> str:
        """One line: why backend `name` cannot be used (conflicting, broken, disabled or not installed)."""
        claimants = self.registry.conflicts.get(name)
        if claimants:
            who = ", ".join(self._provider(c.plugin_name) for c in claimants)
            return f"backend {name!r} is registered by more than one plugin ({who}): uninstall all but one"
        for s in self.statuses.values():
            if name in (s.name, s.backend) and s.status == "broken":
                return f"backend {name!r} is installed but broken: {s.error}"
            if name in (s.name, s.backend) and s.status == "disabled":
                return f"backend {name!r} is disabled by LLEM_DISABLE_PLUGINS"
        installed = ", ".join(sorted(self.backends)) or "none"
        if name in OFFICIAL_BACKENDS:
            hint = f"; pip install llem-{name} adds it"
        else:
            close = difflib.get_close_matches(name, list(self.backends), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"backend {name!r} is not installed (installed: {installed}){hint}"

    def backend(self, name: str) -> Backend[object, object]:
        """The backend `name`; a UserError saying why if it is missing, broken, disabled or conflicting."""
        entries = self.backends
        if name not in entries:
            raise UserError(self.unavailable_reason(name))
        entry = entries[name]
        others = [p for p in self.pm.get_plugins() if p is not entry.plugin]
        return self.make_backend(entry, self.pm, others, self._caps[entry.plugin_name])

    def make_backend(
        self, entry: BackendEntry, pm: pluggy.PluginManager, others: list[Any], caps: Capabilities
    ) -> Backend[object, object]:
        """How `backend()` hands a registered backend out; a subclass may return a Backend subclass that
        wraps some calls (a study worker's model reuse wraps load and unload)."""
        return Backend(entry, pm, others, caps)

    def sections(self) -> dict[str, type[Section]]:
        return {name: e.config for name, e in self.backends.items()}

    def experiment_type(self) -> type[ExperimentBase]:
        """The ExperimentConfig Struct for the backends registered here."""
        return experiment_type(self.sections())


def get_plugin_manager(
    *,
    entry_points: bool = True,
    strict: bool | None = None,
    only: frozenset[str] | None = None,
    factory: Callable[..., LlemPlugins] = LlemPlugins,
) -> LlemPlugins:
    """A fresh plugin manager (no global): entry-point plugins loaded unless `entry_points=False`; with
    `only`, just the entry points of those names (a backend's own tests load nothing else). `factory`
    builds the manager from `strict=` and `disabled=` (a LlemPlugins subclass, e.g. with model reuse)."""
    if strict is None:
        strict = os.environ.get("LLEM_STRICT_PLUGINS", "") not in ("", "0")
    disabled = frozenset(
        p.strip() for p in os.environ.get("LLEM_DISABLE_PLUGINS", "").split(",") if p.strip()
    )
    plugins = factory(strict=strict, disabled=disabled)
    if entry_points:
        plugins.load_entry_points(only)
    return plugins


def _module_name(plugin: Any) -> str | None:
    return getattr(plugin, "__name__", None) or type(plugin).__module__


def _dist(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    return (dist.name, dist.version) if dist is not None else (None, None)


def _unmarked_hooks(plugin: Any) -> list[str]:
    """Callables named like a llem hook that lack the @hookimpl mark (pluggy would skip them silently)."""
    out = []
    for attr in dir(plugin):
        if not attr.startswith("llem_"):
            continue
        value = getattr(plugin, attr, None)
        if callable(value) and not hasattr(value, "llem_impl"):
            out.append(attr)
    return out


def _with_suggestion(name: str) -> str:
    specs = [n for n in dir(hookspecs) if n.startswith("llem_")]
    close = difflib.get_close_matches(name, specs, n=1, cutoff=0.6)
    return f"{name} (did you mean {close[0]}?)" if close else name
