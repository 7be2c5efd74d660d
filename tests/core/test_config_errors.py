"""Bad configs through the real CLI: exit 2, one line naming the file and path, no traceback,
nothing written."""

from __future__ import annotations

import pytest

GOOD = "model: random:tiny-llama\nbackend: toy\n"

BAD = [
    ("unknown key", GOOD + "modle: x\n", "$: Object contains unknown field modle"),
    ("unknown nested key", GOOD + "decoder: {temprature: 1}\n",
     "$.decoder: Object contains unknown field temprature"),
    ("wrong type", GOOD + "n_prompts: many\n", "$.n_prompts: Expected int, got str"),
    ("out of range", GOOD + "n_prompts: 0\n", "$.n_prompts: Expected int >= 1"),
    ("float out of range", GOOD + "decoder: {temperature: 2.5}\n",
     "$.decoder.temperature: Expected float <= 2.0"),
    ("bad literal", GOOD + "precision: fp8\n",
     "$.precision: Invalid enum value 'fp8' (allowed: bf16, fp16, fp32)"),
    ("bad preset", GOOD + "decoder: {preset: wild}\n", "$.decoder.preset: Invalid enum value 'wild'"),
    ("missing model", "backend: toy\n", "$: Object missing required field model"),
    ("backend not installed", "model: m\nbackend: tensorrt_x\n",
     "$.backend: backend 'tensorrt_x' is not installed (installed: toy)"),
    ("section of another backend", GOOD + "vllm: {}\n",
     "$.vllm: backend 'vllm' is disabled by LLEM_DISABLE_PLUGINS"),
    ("backend section bad field", GOOD + "toy: {batch_size: 0}\n", "$.toy.batch_size: Expected int >= 1"),
    ("backend rule exclusive", GOOD + "toy: {fast: true, careful: true}\n",
     "$.toy: fast and careful are mutually"),
    ("backend rule requires", GOOD + "toy: {mode: a}\n", "$.toy: mode requires fast=true"),
    ("prompt source", GOOD + "prompts: {source: web}\n", "$.prompts.source: Invalid value 'web'"),
    ("file prompts need a path", GOOD + "prompts: {source: file}\n",
     "$.prompts: Object missing required field path"),
    ("synthetic rule", GOOD + "prompts: {min_input_tokens: 4}\n", "$.prompts: min_input_tokens only applies"),
    ("cross-field", GOOD + "fixed_output_length: false\nmax_output_tokens: 4\ndecoder: {min_new_tokens: 8}\n",
     "$: decoder.min_new_tokens cannot exceed max_output_tokens"),
    ("fixed length vs min_new_tokens", GOOD + "decoder: {min_new_tokens: 8}\n",
     "is set while fixed_output_length"),
    ("measurement literal", GOOD + "measurement: {energy_sampler: joulemeter}\n",
     "$.measurement.energy_sampler: Invalid enum value 'joulemeter' (allowed: auto, none, nvml, rapl)"),
    ("measurement rule", GOOD + "measurement: {warmup: converge, warmup_batches: 9, max_warmup_batches: 3}\n",
     "$.measurement: max_warmup_batches must be >= warmup_batches"),
    ("top level not a mapping", "- a\n- b\n", "expected a mapping at the top level, got list"),
    ("invalid yaml", "model: [unclosed\n", "invalid YAML"),
    ("empty file", "", "file is empty"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "text", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_one_line_exit_2(label, text, expected, toy_site, tmp_path, llem_cli):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = llem_cli("config", "validate", str(cfg), cwd=tmp_path)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{cfg}: "), lines[0]
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_good_and_missing_files_mixed(toy_site, tmp_path, llem_cli):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    result = llem_cli("config", "validate", str(good), str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2
    assert result.stdout.strip() == f"{good}: ok"
    assert result.stderr.strip() == f"{tmp_path / 'missing.yaml'}: no such file"


def test_bad_override_flag(toy_site, tmp_path, llem_cli):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    result = llem_cli("config", "validate", str(good), "--set", "n_prompts")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("--set: expected KEY=VALUE with a dotted KEY, got 'n_prompts'")
    result = llem_cli("config", "validate", str(good), "--set", "toy.batch_size=-1")
    assert result.exit_code == 2
    assert "$.toy.batch_size: Expected int >= 1" in result.stderr


def test_unknown_cli_flag_is_one_line(llem_cli):
    result = llem_cli("config", "validate", "--frobnicate")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "No such option '--frobnicate'" in result.stderr
