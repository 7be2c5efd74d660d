"""A study's runs grouped by the node that measured them, and the nodes that look unlike the others.

On a cluster, the points of one study are measured on several nodes. A node whose GPUs idle at a different
power, run at other clocks or under another power limit shifts every number measured there, so the table says
which node measured what, and the report flags nodes that differ."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

IDLE_POWER_TOLERANCE = 0.10  # a node's mean idle power more than 10% off the median of the nodes is flagged
# Per-node facts compared across nodes: column -> what it is, in the flag's words.
SAME_ON_EVERY_NODE = {
    "gpu_name": "GPU",
    "max_sm_clock_mhz": "max SM clock (MHz)",
    "power_limit_w": "power limit (W)",
}


def node_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per node: runs, ok runs, mean idle power over its ok runs, GPU, clocks, limit, and flags."""
    nodes: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if r.get("node"):
            nodes.setdefault(str(r["node"]), []).append(r)
    out = []
    for node, mine in sorted(nodes.items()):
        ok = [r for r in mine if r["status"] == "ok"]
        idle = [float(r["idle_power_w"]) for r in ok if r.get("idle_power_w") is not None]
        row: dict[str, Any] = {
            "node": node,
            "n_runs": len(mine),
            "n_ok": len(ok),
            "idle_power_w_mean": statistics.fmean(idle) if idle else None,
        }
        for col in SAME_ON_EVERY_NODE:
            values = [r.get(col) for r in ok if r.get(col) is not None]
            row[col] = statistics.mode(values) if values else None
        out.append(row)
    _flag(out)
    return out


def _flag(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        row["flags"] = ""
    if len(rows) < 2:
        return
    flags: dict[str, list[str]] = {r["node"]: [] for r in rows}
    idle = [r["idle_power_w_mean"] for r in rows if r["idle_power_w_mean"] is not None]
    if len(idle) >= 2:
        median = statistics.median(idle)
        for r in rows:
            p = r["idle_power_w_mean"]
            if p is not None and median and abs(p - median) > IDLE_POWER_TOLERANCE * median:
                flags[r["node"]].append(
                    f"idle power {p:.1f} W vs {median:.1f} W median of the nodes "
                    f"({(p - median) / median:+.0%})"
                )
    for col, what in SAME_ON_EVERY_NODE.items():
        values = [r[col] for r in rows if r[col] is not None]
        if len(set(values)) < 2:
            continue
        usual = statistics.mode(values)
        for r in rows:
            if r[col] is not None and r[col] != usual:
                flags[r["node"]].append(f"{what} {r[col]} where the other nodes have {usual}")
    for r in rows:
        r["flags"] = "; ".join(flags[r["node"]])
