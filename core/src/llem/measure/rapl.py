"""RAPL energy meter: /sys/class/powercap/intel-rapl:N/energy_uj per CPU package (µJ, wraps at max_range)."""

from __future__ import annotations

from pathlib import Path

from llem.measure.counter_period import CounterStuck, measure_period, measure_read_cost
from llem.measure.energy import CounterMeter

# Module attribute so tests can point it at a fake sysfs tree.
POWERCAP_ROOT = Path("/sys/class/powercap")


def package_domains(root: Path) -> list[Path]:
    """Top-level RAPL domains intel-rapl:0, intel-rapl:1, ...: one per CPU package (AMD too)."""
    if not root.is_dir():
        return []
    domains = [p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1 and (p / "energy_uj").exists()]
    return sorted(domains, key=lambda p: int(p.name.split(":")[1]))


class RaplMeter(CounterMeter):
    """Energy of every CPU package through RAPL. Scope is the package: cores, caches and uncore, not DRAM."""

    name = "rapl"
    scope = "cpu-package"
    _joules_per_unit = 1e-6

    def __init__(self, root: Path | None = None, *, with_period: bool = True) -> None:
        super().__init__()
        self.root = root if root is not None else POWERCAP_ROOT
        self._files: list[Path] = []
        domains = package_domains(self.root)
        if not domains:
            self.reason = f"no readable RAPL counter: {self.root} has no intel-rapl package domains"
            return
        try:
            for d in domains:
                (d / "energy_uj").read_text()
        except PermissionError:
            self.reason = (
                f"no readable RAPL counter: {domains[0] / 'energy_uj'} is readable by root only "
                "(run as root or grant read access)"
            )
            return
        except OSError as exc:
            self.reason = f"no readable RAPL counter: {exc.strerror or exc}"
            return
        self._files = [d / "energy_uj" for d in domains]
        self._wrap_units = [_read_int(d / "max_energy_range_uj") for d in domains]
        self.devices = tuple(_domain_label(d) for d in domains)
        if with_period:
            try:
                self.update_period_s = measure_period(lambda: self._read_raw()[0], timeout_s=1.0)
            except CounterStuck as exc:
                self.reason = f"RAPL {exc}"
                return
        self.read_cost_s = measure_read_cost(self._read_raw, n=10)
        self.available = True

    def _read_raw(self) -> list[int]:
        return [int(f.read_text()) for f in self._files]

    _poll_s = 0.00005  # RAPL updates about every millisecond and a read costs microseconds


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def _domain_label(domain: Path) -> str:
    name = _read_text(domain / "name") or domain.name
    return f"CPU {name}"


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
