"""Two single runs side by side: the metrics a user compares, B's ratio to A, and how their configs differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llem.results.flat import flat_row
from llem.results.schema import ExperimentResult

# (label, flat key, lower is better; None: informational, no "better")
COMPARED = (
    ("output tokens/s", "metrics.output_tokens_per_s", False),
    ("total tokens/s", "metrics.total_tokens_per_s", False),
    ("TTFT p50 (s)", "metrics.ttft_s.p50", True),
    ("ITL p50 (s)", "metrics.itl_s.p50", True),
    ("end to end p50 (s)", "metrics.e2e_s.p50", True),
    ("J / output token", "metrics.energy_per_output_token_j", True),
    ("J / token (in+out)", "metrics.energy_per_token_j", True),
    ("energy total (J)", "energy.total_j", True),
    ("energy ± bound (J)", "energy.total_j_bound", None),
    ("mean power (W)", "energy.mean_power_w", True),
    ("peak memory (MiB)", "metrics.peak_memory_mib", True),
    ("window (s)", "timings.window_s", None),
)


@dataclass
class Comparison:
    a: ExperimentResult
    b: ExperimentResult
    rows: list[dict[str, Any]]  # label, a, b, ratio (b / a), better ("a", "b", "same" or None)
    config_differences: dict[str, tuple[Any, Any]]  # config path -> (a's value, b's value)
    warnings: list[str]


def compare(a: ExperimentResult, b: ExperimentResult) -> Comparison:
    """Compare run B against run A."""
    fa, fb = flat_row(a), flat_row(b)
    rows = []
    for label, key, lower_better in COMPARED:
        va, vb = fa.get(key), fb.get(key)
        if va is None and vb is None:
            continue
        ratio = vb / va if isinstance(va, int | float) and isinstance(vb, int | float) and va else None
        better = None
        if ratio is not None and lower_better is not None:
            better = "same" if ratio == 1 else ("b" if (ratio < 1) == lower_better else "a")
        rows.append({"label": label, "key": key, "a": va, "b": vb, "ratio": ratio, "better": better})
    keys = sorted(k for k in set(fa) | set(fb) if k.startswith("config.") and k not in ("config.name",))
    diffs = {k.removeprefix("config."): (fa.get(k), fb.get(k)) for k in keys if fa.get(k) != fb.get(k)}
    warnings = []
    if not a.energy.measured and not b.energy.measured:
        warnings.append(
            "energy was not measured in either run (see each result's energy.not_measured_reason)"
        )
    elif a.energy.measured != b.energy.measured:
        warnings.append("energy was measured in only one of the runs: energy rows cannot be compared")
    elif a.energy.measured and (a.energy.sampler, a.energy.scope) != (b.energy.sampler, b.energy.scope):
        warnings.append(
            f"energy comes from different meters ({a.energy.sampler}/{a.energy.scope} vs "
            f"{b.energy.sampler}/{b.energy.scope})"
        )
    ga = (a.environment.get("gpus") or [{}])[0].get("name") if a.environment.get("gpus") else None
    gb = (b.environment.get("gpus") or [{}])[0].get("name") if b.environment.get("gpus") else None
    if ga != gb:
        warnings.append(f"different devices: {ga or 'no GPU'} vs {gb or 'no GPU'}")
    for r, tag in ((a, "A"), (b, "B")):
        if r.status != "ok":
            warnings.append(f"run {tag} failed: {r.error}")
    return Comparison(a=a, b=b, rows=rows, config_differences=diffs, warnings=warnings)
