"""RAPL meter against a fake /sys/class/powercap tree in tmp_path.

The development and CI machines expose no powercap. RAPL is a plain file interface (energy_uj,
max_energy_range_uj,
name), so a directory of such files is a faithful stand-in; a thread advances energy_uj the way the kernel
does.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import llem.measure.rapl as rapl
import pytest
from llem.config.measurement import MeasurementConfig
from llem.errors import ConfigError
from llem.measure.energy import window_energy
from llem.measure.meters import open_meter
from llem.plugins.types import DeviceInfo

MAX_UJ = 262_143_328_850


def make_powercap(root: Path, packages: int = 2) -> list[Path]:
    files = []
    for p in range(packages):
        d = root / f"intel-rapl:{p}"
        d.mkdir(parents=True)
        (d / "name").write_text(f"package-{p}\n")
        (d / "energy_uj").write_text("1000000\n")
        (d / "max_energy_range_uj").write_text(f"{MAX_UJ}\n")
        sub = root / f"intel-rapl:{p}:0"  # the core sub-domain is part of the package: never counted twice
        sub.mkdir()
        (sub / "name").write_text("core\n")
        (sub / "energy_uj").write_text("5\n")
        files.append(d / "energy_uj")
    return files


class Kernel:
    """Adds `watts` × 2 ms to each energy_uj every 2 ms, like the RAPL MSR updates (~1 ms on real CPUs)."""

    def __init__(self, files: list[Path], watts: float) -> None:
        self.files, self.watts = files, watts
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            for f in self.files:  # replaced whole: a sysfs read never sees a half-written value
                tmp = f.with_name("energy_uj.tmp")
                tmp.write_text(f"{int(f.read_text()) + int(self.watts * 0.002 * 1e6)}\n")
                os.replace(tmp, f)
            time.sleep(0.002)

    def __enter__(self) -> Kernel:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_auto_uses_rapl_without_a_gpu(tmp_path, monkeypatch) -> None:
    files = make_powercap(tmp_path)
    monkeypatch.setattr(rapl, "POWERCAP_ROOT", tmp_path)
    with Kernel(files, watts=50.0):
        meter = open_meter(MeasurementConfig(), DeviceInfo())
        assert (meter.name, meter.scope, meter.available) == ("rapl", "cpu-package", True)
        assert meter.devices == ("CPU package-0", "CPU package-1")
        # The writer updates every >= 2 ms (slower when this shared machine is busy).
        assert meter.update_period_s is not None and 0.0019 < meter.update_period_s < 0.5
        start = meter.read_edge()
        time.sleep(0.2)
        end = meter.read_edge()
    w = window_energy(meter, start, end)
    assert len(w.per_device_j) == 2
    # One stamp stands for both packages (each brought to it from its own update), so both packages, driven by
    # the same writer, read the same energy to within one update (0.1 J), and at most 50 W: the writer never
    # updates faster than every 2 ms.
    a, b = w.per_device_j
    assert abs(a - b) <= 0.1 + 1e-9
    for e in w.per_device_j:
        assert 0 < e <= 1.2 * 50 * w.duration_s


def test_wrap_at_max_energy_range(tmp_path) -> None:
    files = make_powercap(tmp_path, packages=1)
    meter = rapl.RaplMeter(tmp_path, with_period=False)
    files[0].write_text(f"{MAX_UJ - 1_000_000}\n")
    r0 = meter.read()
    files[0].write_text("2000000\n")  # passed the maximum: 1 J before it, 2 J after
    r1 = meter.read()
    assert r1.total_j - r0.total_j == pytest.approx(3.0)
    assert meter.notes == []


def test_unreadable_or_missing_rapl_says_why(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(rapl, "POWERCAP_ROOT", tmp_path / "absent")
    meter = open_meter(MeasurementConfig(), DeviceInfo())
    assert meter.name == "none" and "no NVIDIA GPU and no readable RAPL counter" in meter.reason
    with pytest.raises(ConfigError, match=r"\$\.measurement\.energy_sampler: 'rapl' cannot measure here"):
        open_meter(MeasurementConfig(energy_sampler="rapl"), DeviceInfo())
    d = tmp_path / "broken" / "intel-rapl:0"
    d.mkdir(parents=True)
    (d / "energy_uj").mkdir()  # unreadable as a file
    meter = rapl.RaplMeter(tmp_path / "broken")
    assert not meter.available and meter.reason.startswith("no readable RAPL counter: ")
