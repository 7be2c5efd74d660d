"""The installed llem-core version (a leaf: any layer may record it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llem-core")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
