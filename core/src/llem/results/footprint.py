"""Measured energy as emissions and money: kWh × the carbon intensity and price the user gives (config or
environment; never looked up on a network)."""

from __future__ import annotations

import os

from llem.errors import UserError

J_PER_KWH = 3.6e6


def rate(configured: float | None, env: str) -> float | None:
    """The configured rate, else the environment variable's (a number), else None."""
    if configured is not None:
        return configured
    raw = os.environ.get(env, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"${env}: expected a number, got {raw!r}") from None
    if value < 0:
        raise UserError(f"${env}: expected a number >= 0, got {raw!r}")
    return value


def footprint(
    total_j: float | None, intensity_g_per_kwh: float | None, price_per_kwh: float | None
) -> tuple[float | None, float | None]:
    """(gCO2e, cost) of `total_j`; each None when energy was not measured or its rate is not given."""
    if total_j is None:
        return None, None
    kwh = total_j / J_PER_KWH
    grams = kwh * intensity_g_per_kwh if intensity_g_per_kwh is not None else None
    cost = kwh * price_per_kwh if price_per_kwh is not None else None
    return grams, cost
