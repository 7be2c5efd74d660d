"""`llem study plan` on the mistakes a user makes: each is one line naming the file and the path, exit 2,
before anything expands or runs. Real CLI in a subprocess, with the test-only toy backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

BASE = {"model": "random:tiny-llama", "backend": "toy", "n_prompts": 2, "max_output_tokens": 4}


def plan(llem_cli, tmp_path: Path, study: dict, *args: str, env: dict | None = None):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, **study}, sort_keys=False))
    return path, llem_cli("study", "plan", str(path), *args, env=env, cwd=tmp_path, timeout=120)


def one_line_error(res) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output, res.stderr
    return lines[0]


def test_a_misspelled_path_names_the_file_the_path_and_the_closest(llem_cli, toy_site, tmp_path):
    for key, study in [
        ("sweep", {"sweep": {"toy.bach_size": [1, 2]}}),
        ("groups[0]", {"groups": [{"toy.bach_size": [1, 2]}]}),
        ("experiments[0]", {"experiments": [{"toy.bach_size": 2}]}),
    ]:
        path, res = plan(llem_cli, tmp_path, study)
        expected = f"$.{key}.toy.bach_size: unknown parameter path (did you mean toy.batch_size?)"
        assert one_line_error(res) == f"llem: error: {path}: {expected}"


def test_an_unknown_key_in_base_is_one_error_at_base(llem_cli, toy_site, tmp_path):
    path, res = plan(
        llem_cli, tmp_path, {"base": {**BASE, "n_promts": 2}, "sweep": {"toy.batch_size": [1, 2]}}
    )
    assert one_line_error(res) == (
        f"llem: error: {path}: $.base.n_promts: unknown parameter path (did you mean n_prompts?)"
    )


def test_a_huge_grid_is_refused_with_its_count_before_expanding(llem_cli, toy_site, tmp_path):
    ten = list(range(1, 11))
    sweep = {"toy.batch_size": ten, "n_prompts": ten, "max_output_tokens": ten, "max_input_tokens": ten,
             "random_seed": ten, "decoder.top_k": ten}  # fmt: skip
    path, res = plan(llem_cli, tmp_path, {"sweep": sweep})
    assert one_line_error(res) == (
        f"llem: error: {path}: $.sweep: 1,000,000 combinations (10 × 10 × 10 × 10 × 10 × 10 crossed) is more "
        "than llem plans (10,000; LLEM_MAX_STUDY_POINTS raises it): split the study, or zip axes with groups"
    )
    _, small = plan(llem_cli, tmp_path, {"sweep": sweep}, env={"LLEM_MAX_STUDY_POINTS": "5"})
    assert "1,000,000 combinations" in one_line_error(small) and "(5;" in small.stderr


def test_a_name_that_would_escape_output_dir_is_refused(llem_cli, toy_site, tmp_path):
    for name in ("../escaped", "a/b", ".."):
        path, res = plan(llem_cli, tmp_path, {"name": name, "sweep": {"toy.batch_size": [1]}})
        assert one_line_error(res).startswith(f"llem: error: {path}: $.name: {name!r} is not a folder name")


def test_points_that_can_never_run_are_pruned_at_plan_time(llem_cli, toy_site, tmp_path):
    study = {
        "experiments": [
            {"model": "random:no-such-arch"},
            {"model": str(tmp_path / "no-such-model")},
            {"toy.batch_size": 2},
        ],
        "cycles": 1,
    }
    _, res = plan(llem_cli, tmp_path, study)
    assert res.exit_code == 0, res.output
    assert "study study: 1 experiment × 1 cycle = 1 run," in res.stdout  # and no "1 cycles"
    assert "pruned (2)" in res.stdout
    assert "model: unknown bundled architecture random:no-such-arch (choices: random:" in res.stdout
    assert f"model: no such local folder {tmp_path / 'no-such-model'}" in res.stdout


def test_a_plan_that_prunes_everything_exits_2_with_the_reasons(llem_cli, toy_site, tmp_path):
    _, res = plan(llem_cli, tmp_path, {"experiments": [{"model": "random:no-such-arch"}]})
    assert res.exit_code == 2
    assert "no experiment can run: every combination was pruned" in res.stdout
    assert one_line_error(res).endswith(
        "every experiment of the study is pruned on this machine: model: unknown bundled architecture "
        "random:no-such-arch (choices: random:llama-3.1-8b, random:llama-3.2-1b, random:qwen2.5-0.5b, "
        "random:tiny-llama)"
    )


def test_the_estimate_never_exceeds_timeout_s_per_run(llem_cli, toy_site, tmp_path):
    study = {"sweep": {"toy.batch_size": [1, 2]}, "cycles": 3, "timeout_s": 10}
    _, res = plan(llem_cli, tmp_path, {**study, "base": {**BASE, "max_output_tokens": 100_000}})
    assert res.exit_code == 0, res.output
    assert "2 experiments × 3 cycles = 6 runs" in res.stdout
    assert "estimated duration: 1 min 00 s (" in res.stdout  # 6 runs × 10 s, not 6 × 1000 s of tokens
    assert "counted as 10 s (they would be killed)" in res.stdout
    assert "at most: 1 min 00 s (every run stopped at timeout_s)" in res.stdout


def test_an_unwritable_study_folder_is_one_line_before_anything_runs(llem_cli, toy_site, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path, _ = plan(llem_cli, tmp_path, {"sweep": {"toy.batch_size": [1]}})
    res = llem_cli("study", "run", str(path), "--output", str(blocker / "study"), cwd=tmp_path, timeout=120)
    problem = f"{blocker / 'study'}: {blocker} is not a folder"
    assert one_line_error(res) == f"llem: error: {path}: the study folder cannot be written: {problem}"
    assert blocker.read_text() == ""


def test_a_run_refused_before_loading_still_leaves_a_result_json(llem_cli, toy_site, tmp_path):
    """docs/studies.md: a failure inside a run is recorded in that experiment's result.json — also one found
    before loading (here the prompt file is missing when the run starts)."""
    import json

    missing = tmp_path / "gone.txt"
    study = {"experiments": [{"prompts": {"source": "file", "path": str(missing), "format": "text"}}]}
    path, _ = plan(llem_cli, tmp_path, study)
    out = tmp_path / "out"
    res = llem_cli("study", "run", str(path), "-o", str(out), "--json", cwd=tmp_path, timeout=300)
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)  # --json: the final manifest, and where the study is
    assert printed["folder"] == str(out) and printed["status"] == "complete"
    (run,) = json.loads((out / "study.json").read_text())["runs"]
    assert printed["runs"] == [run]
    assert run["status"] == "failed" and "no such file" in run["error"]
    (result_json,) = list((out / "runs").rglob("result.json"))
    result = json.loads(result_json.read_text())
    assert (
        result["status"] == "failed" and "no such file" in result["error"] and str(missing) in result["error"]
    )
    assert result["energy"]["measured"] is False and result["metrics"]["output_tokens"] is None
    assert result["config"]["prompts"]["path"] == str(missing)


def test_the_rough_estimate_follows_the_models_size(llem_cli, toy_site, tmp_path):
    """Nothing measured yet: start-up plus 2 s per GB of weights plus tokens at 100/s, so a 2-layer toy
    model is not estimated like an 8B one (a flat 30 s made tiny studies look 3-4 times longer)."""
    import json

    experiments = [{"model": "random:tiny-llama"}, {"model": "random:llama-3.1-8b", "precision": "bf16"}]
    _, res = plan(llem_cli, tmp_path, {"experiments": experiments}, "--json")
    assert res.exit_code == 0, res.output
    per_run = json.loads(res.stdout)["estimate"]["per_run_s"]
    tokens_s = (2 + 1 * 1) * 4 / 100  # (n_prompts + warmup_batches × batch_size) × max_output_tokens at 100/s
    assert 10 + tokens_s <= per_run["p001"] < 10.1 + tokens_s  # tiny-llama: a few MB of weights
    assert per_run["p002"] == pytest.approx(10 + 2 * 8.03 * 2 + tokens_s, rel=0.01)  # 16 GB of bf16 weights
