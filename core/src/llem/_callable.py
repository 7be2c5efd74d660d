"""Let a package be called like a function, so `llem.run(...)` and `llem.measure(...)` work although
`llem.run` and `llem.measure` are packages.

Importing a submodule sets it as an attribute of its parent package, so a plain function named like a
submodule would be replaced by the module after the first import; a package whose class has `__call__` is
the module and the function at once, whatever was imported before.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def make_callable(package: str, target: str) -> None:
    """Calling the module `package` calls `target` ("module:function"), imported on the first call."""
    module_name, _, attr = target.partition(":")

    class CallablePackage(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(module_name), attr)(*args, **kwargs)

    CallablePackage.__call__.__doc__ = f"Same as {module_name}.{attr}."
    sys.modules[package].__class__ = CallablePackage
