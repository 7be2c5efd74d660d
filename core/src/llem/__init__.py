"""llem: measure what LLM inference costs (energy, throughput, latency) on any backend."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llem-core")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
