"""Idle power baseline: measured with the experiment's own state (context alive, model loaded, nothing
running).

Idle draw depends on the GPU's state (an H100: ~71 W with no CUDA process, ~123-125 W with a context and a
model
resident), so a baseline records the state it was measured in and is cached per device set and state.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from msgspec import Meta

from llem.files import write_bytes_atomic
from llem.measure.energy import EnergyMeter, energy_bound_j

if TYPE_CHECKING:
    from llem.config.measurement import MeasurementConfig

CACHE_FILE = "baselines.json"
QUICK_CHECK_MIN_S = 1.0
QUICK_CHECK_PERIODS = 10  # a quick check spans at least this many counter periods


class Baseline(msgspec.Struct, kw_only=True, frozen=True):
    """Idle power of the measured devices, and how and when it was obtained."""

    power_w: Annotated[float, Meta(description="Idle power, summed over the devices (W).")]
    per_device_w: Annotated[tuple[float, ...], Meta(description="Idle power per device (W).")]
    duration_s: Annotated[float, Meta(description="How long idle power was measured (s).")]
    measured_at: Annotated[str, Meta(description="When it was measured (ISO 8601, UTC).")]
    source: Annotated[
        Literal["fresh", "cached"], Meta(description="Measured in this run, or reused from the cache.")
    ]
    state: Annotated[
        str, Meta(description="Device state it was measured in, e.g. 'model loaded, CUDA context alive'.")
    ]
    bound_w: Annotated[float | None, Meta(description="± bound of power_w from the counter period (W).")] = (
        None
    )
    meter: Annotated[str | None, Meta(description="Energy meter it was measured with (nvml, rapl).")] = None
    check_power_w: Annotated[
        float | None,
        Meta(description="Idle power of the quick re-validation check, when this run made one (W)."),
    ] = None
    checked_at: Annotated[
        str | None,
        Meta(
            description="When it was last measured or confirmed by a quick check (ISO 8601, UTC); a cached "
            "baseline checked less than measurement.baseline_recheck_s before is reused without a check."
        ),
    ] = None


def measure_idle(meter: EnergyMeter, duration_s: float, *, state: str = "") -> Baseline:
    """Mean power over `duration_s` of idle time, from the energy counter between two aligned edges.

    The caller keeps the devices idle meanwhile. Raises EnergyNotMeasured when the meter cannot measure.
    """
    start = meter.read_edge()
    time.sleep(duration_s)
    end = meter.read_edge()
    span = end.t_s - start.t_s
    per_device = tuple((b - a) / span for a, b in zip(start.joules, end.joules, strict=True))
    power = sum(per_device)
    return Baseline(
        power_w=power,
        per_device_w=per_device,
        duration_s=span,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source="fresh",
        state=state,
        bound_w=energy_bound_j(meter, power) / span,
        meter=meter.name,
    )


def cache_dir() -> Path:
    """$LLEM_CACHE_DIR, else ~/.cache/llem."""
    env = os.environ.get("LLEM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "llem"


def baseline_key(device_ids: list[str], state: str, *, host: str | None = None) -> str:
    """Cache key: which host, which devices (GPU UUIDs, or the meter's device names) and in which state.

    The host is part of it because a cache on a shared home folder is seen by every node of a cluster, and
    idle power differs from node to node (a RAPL domain name or a GPU index is the same on all of them)."""
    return f"{host or socket.gethostname()}|{','.join(device_ids)}|{state}"


def idle_baseline(meter: EnergyMeter, mc: MeasurementConfig, key: str, state: str) -> Baseline | None:
    """The idle baseline `mc.baseline` asks for: None for none, a new measurement for fresh.

    cached: reuse the stored baseline for `key` if it is younger than baseline_ttl_s and either it was
    measured or checked less than baseline_recheck_s ago (a study's experiments follow each other within
    seconds) or a quick idle check (about 1 s) agrees with it within baseline_tolerance; otherwise measure
    again and store it. The cache file is $LLEM_CACHE_DIR/baselines.json, written atomically.
    """
    if mc.baseline == "none":
        return None
    path, full_key = cache_dir() / CACHE_FILE, f"{meter.name}:{key}"
    if mc.baseline == "cached":
        cached = _load(path).get(full_key)
        if cached is not None and _age_s(cached.measured_at) <= mc.baseline_ttl_s:
            if _age_s(cached.checked_at or cached.measured_at) < mc.baseline_recheck_s:
                return msgspec.structs.replace(cached, source="cached", check_power_w=None)
            check = measure_idle(meter, _quick_check_s(meter, mc), state=state)
            if abs(check.power_w - cached.power_w) <= mc.baseline_tolerance * cached.power_w:
                confirmed = msgspec.structs.replace(cached, checked_at=check.measured_at)
                _store(path, full_key, confirmed)
                return msgspec.structs.replace(confirmed, source="cached", check_power_w=check.power_w)
    fresh = measure_idle(meter, mc.baseline_duration_s, state=state)
    fresh = msgspec.structs.replace(fresh, checked_at=fresh.measured_at)
    _store(path, full_key, fresh)  # fresh runs refresh the cache for later cached ones
    return fresh


def _quick_check_s(meter: EnergyMeter, mc: MeasurementConfig) -> float:
    floor = max(QUICK_CHECK_MIN_S, QUICK_CHECK_PERIODS * (meter.update_period_s or 0.0))
    return min(mc.baseline_duration_s, floor)


def _age_s(when: str) -> float:
    try:
        measured = datetime.fromisoformat(when)
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - measured).total_seconds()


def _load(path: Path) -> dict[str, Baseline]:
    try:
        raw = json.loads(path.read_text())
        return {k: msgspec.convert(v, Baseline) for k, v in raw.items()}
    except (OSError, ValueError, msgspec.ValidationError, AttributeError):
        return {}  # no cache yet, or a corrupt one: measure again (it is rewritten whole)


def _store(path: Path, key: str, baseline: Baseline) -> None:
    entries = _load(path)  # re-read: another run may have stored other keys meanwhile
    entries[key] = baseline
    write_bytes_atomic(path, msgspec.json.format(msgspec.json.encode(entries), indent=2))
