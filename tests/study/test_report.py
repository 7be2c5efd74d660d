"""Study tables and the HTML report, from result.json files written by hand in the shared result format.

The numbers here are test inputs for the statistics and plotting code, not measurements; real runs are covered
in test_study_run.py (where this CPU machine cannot measure energy, so energy plots need these inputs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import DeviceInfo
from llem.study.config import study_from_dict
from llem.study.manifest import save_manifest
from llem.study.planning import plan_study
from llem.study.table import write_tables

pytest.importorskip("matplotlib")

# point -> (J per output token, output tokens/s) per cycle. p002 is dominated by p001 (slower and costlier).
DATA = {
    "p001": [(0.010, 1000.0), (0.012, 1100.0)],
    "p002": [(0.020, 900.0), (0.022, 950.0)],
    "p003": [(0.030, 3000.0), (0.034, 3200.0)],
}


def fake_result(run_dir: Path, j_per_tok: float, tps: float) -> None:
    exp = run_dir / "exp-1"
    exp.mkdir(parents=True)
    out_tokens = 256
    window = out_tokens / tps
    (exp / "result.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "status": "ok",
                "error": None,
                "files": {"timeseries": "timeseries.csv"},
                "timings": {"window_s": window, "load_s": 1.0},
                "energy": {
                    "measured": True,
                    "sampler": "nvml",
                    "total_j": j_per_tok * out_tokens,
                    "short_window": False,
                },
                "metrics": {
                    "output_tokens": out_tokens,
                    "input_tokens": 128,
                    "output_tokens_per_s": tps,
                    "energy_per_output_token_j": j_per_tok,
                    "e2e_s": {"mean": 0.1},
                },
            }
        )
    )
    rows = ["t_rel_s,gpu,power_w"] + [f"{t / 10:.1f},0,{100 + 50 * (0 < t < 5)}" for t in range(-2, 8)]
    (exp / "timeseries.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture
def study_dir(tmp_path: Path, toy_site: Path) -> Path:
    cfg, base = study_from_dict(
        {"base": {"model": "m", "backend": "toy"}, "sweep": {"toy.batch_size": [1, 2, 4]}, "cycles": 2}
    )
    manifest = plan_study(cfg, base, plugins=get_plugin_manager(), device=DeviceInfo())
    folder = tmp_path / "study"
    for run in manifest.runs:
        j, tps = DATA[run.point_id][run.cycle - 1]
        fake_result(folder / "runs" / run.id, j, tps)
        run.status, run.result_dir, run.wall_s = "ok", f"runs/{run.id}/exp-1", 2.0
    manifest.status = "complete"
    save_manifest(folder, manifest)
    return folder


def test_aggregate_has_mean_std_and_t_interval_per_configuration(study_dir: Path):
    import llem.study

    data = llem.study.load(study_dir)
    agg = data.aggregate.set_index("point_id")
    assert agg.loc["p001", "energy_per_output_token_j_mean"] == pytest.approx(0.011)
    assert agg.loc["p001", "energy_per_output_token_j_std"] == pytest.approx(0.0014142, rel=1e-4)
    # t(0.975, 1) = 12.706; half-width = t · s / sqrt(2)
    assert agg.loc["p001", "energy_per_output_token_j_ci95"] == pytest.approx(
        12.7062 * 0.0014142 / 2**0.5, rel=1e-3
    )
    assert list(data.runs["cycle"]) == [1, 1, 1, 2, 2, 2]  # interleaved order
    written = write_tables(study_dir, data.manifest)
    assert {p.name for p in written} == {"runs.csv", "aggregate.csv", "runs.parquet", "aggregate.parquet"}


def test_report_marks_the_pareto_front_and_embeds_the_plots(study_dir: Path, llem_cli):
    r = llem_cli("report", str(study_dir), "--runs", "p001-c1,p003-c2")
    assert r.exit_code == 0, r.output
    html = (study_dir / "report.html").read_text()
    assert "alt='Energy per output token vs throughput'" in html
    assert "alt='Metrics vs toy.batch_size'" in html
    assert "alt='Power during chosen runs'" in html
    assert html.count("data:image/png;base64,") == 3
    assert "p001 ★" in html and "p003 ★" in html and "p002 ★" not in html
    assert "0.011 ± 0.01271 (≥ 0)" in html  # mean ± 95% CI half-width, clipped at zero, J per output token
    assert "src='http" not in html and "href=" not in html  # self-contained


def test_report_refuses_unknown_runs_with_one_line(study_dir: Path, llem_cli):
    r = llem_cli("report", str(study_dir), "--runs", "p009-c1")
    assert r.exit_code == 2
    assert r.stderr.strip() == "llem: error: --runs: no run p009-c1 in this study (run ids look like p001-c1)"


def test_report_on_a_folder_without_a_study_is_a_user_error(tmp_path: Path, llem_cli):
    r = llem_cli("report", str(tmp_path))
    assert r.exit_code == 2 and "not a study folder (no study.json)" in r.stderr


def test_report_renders_in_headless_chromium(study_dir: Path, tmp_path: Path, llem_cli):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "report_screenshot", Path(__file__).parents[2] / "bench" / "report_screenshot.py"
    )
    shot_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shot_mod)
    if shot_mod.find_chromium() is None:
        pytest.skip("no Chromium on this machine (apt-get install -y chromium)")
    assert llem_cli("report", str(study_dir)).exit_code == 0
    shot = shot_mod.screenshot(study_dir / "report.html", tmp_path / "report.png", height=1600)
    assert shot_mod.png_size(shot) == (1200, 1600)
    # a blank page compresses to a few KiB; three rendered plots do not
    assert shot.stat().st_size > 60_000
    # what a reader sees: the Pareto front's red line and markers, drawn by the browser from the embedded PNG
    from llem.report.plots import FRONT_COLOR
    from PIL import Image

    red = tuple(int(FRONT_COLOR[i : i + 2], 16) for i in (1, 3, 5))
    data = Image.open(shot).convert("RGB").tobytes()
    pixels = zip(data[0::3], data[1::3], data[2::3], strict=True)
    assert sum(1 for p in pixels if all(abs(a - b) < 24 for a, b in zip(p, red, strict=True))) > 200


def test_confidence_intervals_never_reach_below_zero():
    from llem.report.plots import clipped_errors

    below, above = clipped_errors([0.011, 5.0, 0.0], [0.0127, 1.0, None])
    assert below == [0.011, 1.0, 0.0] and above == [0.0127, 1.0, 0.0]


def test_point_labels_do_not_overlap_even_when_points_crowd():
    from llem.report.plots import _figure, place_labels

    fig = _figure()
    ax = fig.add_subplot()
    xs = [100.0, 100.5, 101.0, 100.2, 100.7, 300.0]
    ys = [0.50, 0.501, 0.499, 0.502, 0.5, 0.1]
    ax.plot(xs, ys, "o")
    labels = place_labels(ax, xs, ys, [f"p00{i}" for i in range(1, 7)])
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    overlapping = [(i, j) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
    assert overlapping == []


def test_a_configuration_whose_cycles_measured_very_different_windows_gets_a_note(
    tmp_path, toy_site, llem_cli
):
    cfg, base = study_from_dict({"base": {"model": "m", "backend": "toy"}, "sweep": {"toy.batch_size": [1]},
                                 "cycles": 2})  # fmt: skip
    manifest = plan_study(cfg, base, plugins=get_plugin_manager(), device=DeviceInfo())
    folder = tmp_path / "study"
    for run, tps in zip(manifest.runs, (776.0, 37.4), strict=True):  # windows 0.33 s and 6.85 s
        fake_result(folder / "runs" / run.id, 0.01, tps)
        run.status, run.result_dir, run.wall_s = "ok", f"runs/{run.id}/exp-1", 2.0
    manifest.status = "complete"
    save_manifest(folder, manifest)
    assert llem_cli("report", str(folder)).exit_code == 0
    html = (folder / "report.html").read_text()
    assert "<b>p001</b>: measured windows vary 0.33–6.84 s across cycles of the same configuration" in html

    from llem.study.table import window_spread_note

    assert window_spread_note([1.0, 1.5, None]) is None  # within a factor of 2: no note
