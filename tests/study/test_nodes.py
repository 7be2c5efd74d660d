"""Per-node grouping of a study's runs, and the flag on a node that differs from the others."""

from __future__ import annotations

from llem.report.html import _nodes_section
from llem.study.nodes import node_rows


def run(node: str, idle: float | None, clock: int = 1980, status: str = "ok") -> dict:
    return {
        "node": node,
        "status": status,
        "idle_power_w": idle,
        "gpu_name": "NVIDIA H200",
        "max_sm_clock_mhz": clock,
        "power_limit_w": 700.0,
    }


def test_a_node_with_higher_idle_power_or_other_clocks_is_flagged_and_the_others_are_not():
    rows = [
        run("gpu01", 120.0), run("gpu01", 121.0),
        run("gpu02", 119.0), run("gpu02", 120.0, status="failed"),
        run("gpu03", 150.0, clock=1755), run("gpu03", 152.0, clock=1755),
    ]  # fmt: skip
    nodes = {n["node"]: n for n in node_rows(rows)}
    assert (nodes["gpu02"]["n_runs"], nodes["gpu02"]["n_ok"]) == (2, 1)
    assert nodes["gpu01"]["idle_power_w_mean"] == 120.5
    assert nodes["gpu01"]["flags"] == nodes["gpu02"]["flags"] == ""
    assert "idle power 151.0 W vs 120.5 W median of the nodes (+25%)" in nodes["gpu03"]["flags"]
    assert "max SM clock (MHz) 1755 where the other nodes have 1980" in nodes["gpu03"]["flags"]

    html = "\n".join(_nodes_section(rows))
    assert "<b>gpu03</b> differs from the other nodes" in html and "<b>gpu01</b>" not in html


def test_one_node_or_no_energy_flags_nothing():
    assert [n["flags"] for n in node_rows([run("a", 100.0), run("a", 130.0)])] == [""]
    assert _nodes_section([run("a", 100.0)]) == []  # a one-node study has no nodes section
    two = node_rows([run("a", None), run("b", None)])  # CPU machines: idle power not measured
    assert [n["flags"] for n in two] == ["", ""] and two[0]["idle_power_w_mean"] is None
