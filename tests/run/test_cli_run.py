"""`llem run` end to end: the real CLI in a subprocess, the real PyTorch backend, random:tiny-llama, CPU."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from llem.results import load_result

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"
pytest.importorskip("llem_pytorch", reason="the quickstart needs the llem-pytorch backend")


def read_timeseries(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_quickstart_measures_throughput_and_says_energy_not_measured(llem_cli, tmp_path):
    out = tmp_path / "results"
    # No GPU in CI; LLEM_FORCE_NO_GPU keeps the test meaning the same on a developer's GPU machine.
    res = llem_cli("run", str(QUICKSTART), "--output", str(out), env={"LLEM_FORCE_NO_GPU": "1"}, timeout=300)
    assert res.exit_code == 0, res.output
    (folder,) = list(out.iterdir())
    assert f"result: {folder}" in res.stdout
    data = json.loads((folder / "result.json").read_text())
    assert data["status"] == "ok" and data["schema_version"] == 1
    m, e = data["metrics"], data["energy"]
    assert m["output_tokens_per_s"] > 0 and m["total_tokens_per_s"] > m["output_tokens_per_s"]
    assert m["n_requests"] == 32 and m["output_tokens"] == 32 * 32  # fixed output length
    assert m["ttft_s"]["p50"] > 0 and m["e2e_s"]["p99"] >= m["e2e_s"]["p50"] > 0
    if (
        e["sampler"] == "rapl"
    ):  # a CI machine with readable RAPL measures the CPU package: a real, positive number
        assert e["measured"] and e["total_j"] > 0
    else:
        assert e["measured"] is False and e["not_measured_reason"]
        assert "energy           not measured (" in res.stdout
        numbers = [k for k, v in e.items() if isinstance(v, int | float) and not isinstance(v, bool)]
        assert numbers == [], f"energy fields must be null when not measured, got {numbers}"
        assert m["energy_per_output_token_j"] is None and m["energy_per_token_j"] is None
    assert (folder / "config.yaml").is_file()
    ts = folder / data["files"]["timeseries"]
    assert ts.is_file()
    read_timeseries(ts)  # loadable (no GPU: no samples, but a valid file)
    assert load_result(folder).metrics.output_tokens == 32 * 32
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no staging leftovers"


@pytest.mark.slow
def test_json_flag_prints_the_result(llem_cli, tmp_path):
    res = llem_cli(
        "run",
        str(QUICKSTART),
        "--output",
        str(tmp_path),
        "--json",
        "--set",
        "n_prompts=4",
        "--set",
        "max_output_tokens=4",
        timeout=300,
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["config"]["n_prompts"] == 4 and data["metrics"]["output_tokens"] == 16
    assert (tmp_path / data["experiment_id"] / "result.json").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "n_prompts=0"], "$.n_prompts: Expected int >= 1"),
        (["--set", "pytorch.batch_size=oops"], "$.pytorch.batch_size"),
        (["--set", "nonsense"], "expected KEY=VALUE"),
        (["--bogus-flag"], "No such option '--bogus-flag'"),
    ],
)
def test_bad_config_or_flag_is_one_line_exit_2_and_writes_nothing(llem_cli, tmp_path, args, message):
    out = tmp_path / "results"
    res = llem_cli("run", str(QUICKSTART), "--output", str(out), *args)
    assert res.exit_code == 2, res.output
    assert message in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_config_file_is_a_user_error(llem_cli, tmp_path):
    res = llem_cli("run", str(tmp_path / "nope.yaml"), "--output", str(tmp_path / "r"))
    assert res.exit_code == 2 and "nope.yaml: no such file" in res.stderr and "Traceback" not in res.output
