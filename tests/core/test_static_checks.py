"""One validation path: `config validate`, `run` and `study plan` make the same static checks (model name,
declared capabilities, the backend's own validate hook), and what a backend does with the decoder settings and
which engine versions it ran on are recorded honestly. Real CLI in a subprocess, real installed plugins."""

from __future__ import annotations

import json
from pathlib import Path

from plugin_dists import count_plugin, make_plugin_dist

BASE = "model: random:tiny-llama\nbackend: count\nn_prompts: 2\nmax_output_tokens: 4\n"


def _reinstall_count(site: Path, **replace: str) -> None:
    """Replace the installed `count` plugin's source with a variant."""
    make_plugin_dist(site, "llem-count", {"llem_count": count_plugin(**replace)}, {"count": "llem_count"})


def _stderr_line(result) -> str:
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _validate_and_run(llem_cli, tmp_path: Path, text: str):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    check = llem_cli("config", "validate", str(cfg))
    run = llem_cli("run", str(cfg), "--output", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists(), "a refused run wrote a result"
    return cfg, check, run


def test_misspelled_random_model_fails_validate_and_run_alike(count_site, llem_cli, tmp_path):
    cfg, check, run = _validate_and_run(llem_cli, tmp_path, BASE.replace("tiny-llama", "tiny-lama"))
    assert check.exit_code == run.exit_code == 2
    line = _stderr_line(check)
    assert line.startswith(
        f"{cfg}: model: unknown bundled architecture random:tiny-lama (did you mean "
        "random:tiny-llama? choices: "
    )
    assert "model: unknown bundled architecture random:tiny-lama (did you mean" in _stderr_line(run)


def test_backend_validate_hook_runs_in_config_validate(count_site, llem_cli, tmp_path):
    _reinstall_count(
        count_site,
        **{"    return []": "    return ['count.batch_size: at most 2'] if config.count.batch_size else []"},
    )
    cfg, check, run = _validate_and_run(llem_cli, tmp_path, BASE + "count: {batch_size: 3}\n")
    assert check.exit_code == run.exit_code == 2
    assert _stderr_line(check) == f"{cfg}: count.batch_size: at most 2"
    assert (
        _stderr_line(run) == f"llem: error: {cfg}: this config cannot run here: count.batch_size: at most 2"
    )
    ok = tmp_path / "ok.yaml"
    ok.write_text(BASE)
    assert llem_cli("config", "validate", str(ok)).stdout.strip() == f"{ok}: ok"


def test_unsupported_precision_and_strategy_are_refused_and_pruned(count_site, llem_cli, tmp_path):
    _reinstall_count(
        count_site,
        **{
            'PRECISIONS = ("fp32", "fp16", "bf16")': 'PRECISIONS = ("fp32",)',
            'decoding_strategies=("greedy", "sampling")': 'decoding_strategies=("greedy",)',
        },
    )
    cfg, check, run = _validate_and_run(
        llem_cli, tmp_path, BASE + "precision: bf16\ndecoder: {do_sample: false}\n"
    )
    assert check.exit_code == run.exit_code == 2
    assert _stderr_line(check) == (
        f"{cfg}: precision: bf16 is not supported by backend 'count' (supported: fp32)"
    )
    cfg2, check2, _ = _validate_and_run(llem_cli, tmp_path, BASE + "precision: fp32\n")
    assert _stderr_line(check2) == (
        f"{cfg2}: decoder: sampling decoding is not supported by backend 'count' (supported: greedy); "
        "set decoder.do_sample: false"
    )
    (tmp_path / "s.yaml").write_text(
        "base: {model: 'random:tiny-llama', backend: count, n_prompts: 2, decoder: {do_sample: false}}\n"
        "sweep: {precision: [fp32, bf16]}\n"
    )
    plan = llem_cli("study", "plan", str(tmp_path / "s.yaml"), "--json", cwd=tmp_path)
    assert plan.exit_code == 0, plan.output
    manifest = json.loads(plan.stdout)
    assert [p["label"] for p in manifest["points"]] == ["precision=fp32"]
    assert [(p["label"], p["reason"]) for p in manifest["pruned"]] == [
        ("precision=bf16", "precision: bf16 is not supported by backend 'count' (supported: fp32)")
    ]


def test_a_decoder_setting_the_backend_does_not_implement_is_refused(count_site, llem_cli, tmp_path):
    cfg, check, run = _validate_and_run(llem_cli, tmp_path, BASE + "decoder: {min_p: 0.1}\n")
    assert check.exit_code == run.exit_code == 2
    assert _stderr_line(check) == (
        f"{cfg}: decoder.min_p: backend 'count' does not implement it "
        "(it honours: temperature, do_sample, top_k, top_p, repetition_penalty); remove it"
    )


def test_result_records_ignored_decoder_settings_and_engine_packages(count_site, llem_cli, tmp_path):
    _reinstall_count(
        count_site, **{"runs_on_cpu=True": "runs_on_cpu=True, engine_packages=('pluggy', 'nosuchpkg')"}
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "decoder: {do_sample: false, top_k: 5}\n")
    run = llem_cli("run", str(cfg), "--output", str(tmp_path / "out"), "--json")
    assert run.exit_code == 0, run.output
    result = json.loads(run.stdout)
    decoder = result["decoder"]
    assert decoder["strategy"] == "greedy"
    assert decoder["applied"] == {"do_sample": False, "repetition_penalty": 1.0}
    assert set(decoder["ignored"]) == {"temperature", "top_k", "top_p"}
    assert decoder["ignored"]["top_k"] == "greedy decoding: sampling parameters have no effect"
    import pluggy

    assert result["packages"]["pluggy"] == pluggy.__version__
    assert result["packages"]["llem-count"] == "0.1.0"
    assert "nosuchpkg" not in result["packages"] and "torch" not in result["packages"]


def test_study_files_validate_like_study_plan(count_site, llem_cli, tmp_path):
    _reinstall_count(count_site, **{'PRECISIONS = ("fp32", "fp16", "bf16")': 'PRECISIONS = ("fp32",)'})
    some = tmp_path / "some.yaml"
    some.write_text(
        "base: {model: 'random:tiny-llama', backend: count, n_prompts: 2}\nsweep: {precision: [fp32, bf16]}\n"
    )
    none = tmp_path / "none.yaml"
    none.write_text("base: {model: 'random:tiny-lama', backend: count}\nsweep: {precision: [fp32]}\n")
    result = llem_cli("config", "validate", str(some), str(none))
    assert result.exit_code == 2
    assert result.stdout.strip() == f"{some}: ok (study: 1 experiment, 1 pruned (llem study plan shows why))"
    assert _stderr_line(result) == (
        f"{none}: no experiment of this study can run here: model: unknown bundled architecture "
        "random:tiny-lama (did you mean random:tiny-llama? choices: random:llama-3.1-8b, "
        "random:llama-3.2-1b, random:qwen2.5-0.5b, random:tiny-llama)"
    )
