"""`llem results export DIR --csv` and `llem compare A B` on result folders written by llem's own writer.
Real CLI in a subprocess."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from llem.results.schema import Energy, ExperimentResult, LatencyStats, Metrics, Timings
from llem.results.write import write_experiment


def write(out: Path, name: str, batch_size: int, tps: float, j_per_tok: float | None) -> Path:
    measured = j_per_tok is not None
    result = ExperimentResult(
        llem_version="0",
        experiment_id=name,
        name=name,
        config_hash=f"{batch_size:016d}",
        config={"model": "random:tiny-llama", "backend": "pytorch", "pytorch": {"batch_size": batch_size}},
        backend="pytorch",
        model="random:tiny-llama",
        status="ok",
        started_at="2026-12-02T00:00:00+00:00",
        metrics=Metrics(
            output_tokens=1024,
            output_tokens_per_s=tps,
            energy_per_output_token_j=j_per_tok,
            e2e_s=LatencyStats(mean=1.0, p50=1.0, p90=1.1, p99=1.2),
        ),
        energy=Energy(
            measured=measured,
            sampler="nvml" if measured else "none",
            scope="gpu" if measured else None,
            total_j=j_per_tok * 1024 if measured else None,
            not_measured_reason=None if measured else "no NVIDIA GPU",
        ),
        timings=Timings(window_s=1024 / tps),
    )
    return write_experiment(out, result, timeseries=None)


def test_export_csv_has_one_row_per_run_and_empty_not_zero(llem_cli, tmp_path):
    out = tmp_path / "results"
    write(out, "bs1", 1, 100.0, 0.5)
    write(out, "bs8", 8, 700.0, None)
    res = llem_cli("results", "export", str(out), "--csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [(r["name"], r["config.pytorch.batch_size"], r["metrics.output_tokens_per_s"]) for r in rows] == [
        ("bs1", "1", "100.0"), ("bs8", "8", "700.0"),
    ]  # fmt: skip
    assert rows[0]["metrics.energy_per_output_token_j"] == "0.5"
    assert rows[1]["metrics.energy_per_output_token_j"] == "" and rows[1]["energy.total_j"] == ""
    assert rows[1]["energy.not_measured_reason"] == "no NVIDIA GPU"
    target = tmp_path / "runs.json"
    saved = llem_cli("results", "export", str(out), "--json", "--no-config", "-o", str(target))
    assert saved.exit_code == 0 and saved.stderr.strip() == f"2 runs written to {target}"
    data = json.loads(target.read_text())
    assert len(data) == 2 and not [k for k in data[0] if k.startswith("config.")]


def test_export_of_a_folder_without_results_is_one_line(llem_cli, tmp_path):
    res = llem_cli("results", "export", str(tmp_path))
    assert res.exit_code == 2
    assert res.stderr.strip() == f"llem: error: {tmp_path}: no result.json in or under this folder"


def test_compare_shows_ratios_the_better_run_and_config_differences(llem_cli, tmp_path):
    a = write(tmp_path / "r", "bs1", 1, 100.0, 0.5)
    b = write(tmp_path / "r", "bs8", 8, 700.0, 0.1)
    res = llem_cli("compare", str(a), str(b))
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    tps = next(line for line in lines if line.startswith("output tokens/s"))
    assert tps.split() == ["output", "tokens/s", "100", "700", "7.000×", "B"]
    jpt = next(line for line in lines if line.startswith("J / output token"))
    assert jpt.split()[-2:] == ["0.200×", "B"]
    assert any(line.split() == ["pytorch.batch_size", "1", "8"] for line in lines)
    data = json.loads(llem_cli("compare", str(a), str(b), "--json").stdout)
    assert data["config_differences"] == {"pytorch.batch_size": [1, 8]} and data["warnings"] == []


def test_compare_says_when_energy_cannot_be_compared(llem_cli, tmp_path):
    a = write(tmp_path / "r", "gpu", 1, 100.0, 0.5)
    b = write(tmp_path / "r", "cpu", 1, 10.0, None)
    res = llem_cli("compare", str(a), str(b))
    assert res.exit_code == 0, res.output
    assert "note: energy was measured in only one of the runs: energy rows cannot be compared" in res.stdout
    assert llem_cli("compare", str(a), str(tmp_path / "nope")).exit_code == 2
