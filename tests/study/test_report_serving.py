"""Serving studies in the table and the report: goodput and J/request columns, the rate plots and the
energy-vs-goodput Pareto front, from result.json files written by hand in the shared result format.

The numbers are test inputs for the table and plotting code, not measurements (this CPU machine measures no
energy); real serving runs are covered in tests/server and tests/vllm/test_vllm_server.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import DeviceInfo
from llem.study.config import study_from_dict
from llem.study.manifest import load_manifest, save_manifest
from llem.study.planning import plan_study
from llem.study.table import aggregate_rows, run_rows

pytest.importorskip("matplotlib")

# point -> (offered rate, goodput, J per request, J per good request); p002 is dominated by p003.
DATA = {
    "p001": (1.0, 1.0, 50.0, 50.0),
    "p002": (2.0, 1.5, 40.0, 53.0),
    "p003": (4.0, 3.0, 30.0, 40.0),
}


def fake_result(run_dir: Path, rate: float, goodput: float, j_req: float, j_good: float) -> None:
    exp = run_dir / "exp-1"
    exp.mkdir(parents=True)
    serving = {
        "offered_rate_per_s": rate, "achieved_rate_per_s": rate, "goodput_requests_per_s": goodput,
        "energy_per_request_j": j_req, "energy_per_good_request_j": j_good, "n_sent": 10, "n_failed": 0,
        "n_good": 8, "tpot_s": {"p50": 0.01, "p99": 0.02},
    }  # fmt: skip
    (exp / "result.json").write_text(
        json.dumps(
            {
                "status": "ok",
                "timings": {"window_s": 10.0},
                "energy": {
                    "measured": True,
                    "sampler": "nvml",
                    "total_j": j_req * rate * 10,
                    "mean_power_w": 300.0,
                },
                "metrics": {
                    "output_tokens_per_s": rate * 32,
                    "requests_per_s": rate,
                    "energy_per_output_token_j": j_req / 32,
                    "e2e_s": {"mean": 0.1, "p50": 0.1},
                    "ttft_s": {"p99": 0.05},
                    "serving": serving,
                },
            }
        )
    )


@pytest.fixture
def study_dir(tmp_path: Path, toy_site: Path) -> Path:
    cfg, base = study_from_dict(
        {"base": {"model": "m", "backend": "toy"}, "sweep": {"toy.batch_size": [1, 2, 4]}, "cycles": 1}
    )
    manifest = plan_study(cfg, base, plugins=get_plugin_manager(), device=DeviceInfo())
    folder = tmp_path / "study"
    for run in manifest.runs:
        fake_result(folder / "runs" / run.id, *DATA[run.point_id])
        run.status, run.result_dir, run.wall_s = "ok", f"runs/{run.id}/exp-1", 2.0
    manifest.status = "complete"
    save_manifest(folder, manifest)
    return folder


def test_serving_columns_reach_the_study_table(study_dir: Path):
    manifest = load_manifest(study_dir)
    agg = {r["point_id"]: r for r in aggregate_rows(run_rows(study_dir, manifest), manifest)}
    assert agg["p003"]["goodput_requests_per_s_mean"] == 3.0
    assert agg["p002"]["energy_per_good_request_j_mean"] == 53.0
    assert agg["p001"]["offered_rate_per_s_mean"] == 1.0 and agg["p001"]["mean_power_w_mean"] == 300.0


def test_report_draws_rate_plots_and_the_energy_goodput_front(study_dir: Path, llem_cli):
    r = llem_cli("report", str(study_dir))
    assert r.exit_code == 0, r.output
    html = (study_dir / "report.html").read_text()
    assert "alt='Energy per request and goodput vs request rate'" in html
    assert "alt='Energy vs goodput (Pareto front)'" in html
