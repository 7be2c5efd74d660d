"""One misbehaving plugin never takes the CLI down: each failure makes that plugin "broken" (or "conflict")
with a one-line reason, and every other backend keeps working. Real CLI in a subprocess, real installed
distributions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_dists import count_plugin, make_plugin_dist

GOOD = "model: random:tiny-llama\nbackend: count\nn_prompts: 2\nmax_output_tokens: 4\n"


@pytest.fixture
def site(count_site: Path) -> Path:
    return count_site


def _install(site: Path, name: str, source: str, *, dist: str | None = None, ep: str | None = None) -> None:
    """Install plugin module `llem_<name>` as distribution `llem-<name>`, registering backend `<name>`."""
    source = source.replace('add_backend("count"', f'add_backend("{name}"')
    make_plugin_dist(site, dist or f"llem-{name}", {f"llem_{name}": source}, {ep or name: f"llem_{name}"})


def _rows(llem_cli) -> dict[str, dict]:
    result = llem_cli("backends", "list", "--json")
    assert result.exit_code == 0, result.output
    return {(row["name"], row["distribution"]): row for row in json.loads(result.stdout)}


def _one_line_error(result) -> str:
    """The single stderr line of a failed command (asserting there is no traceback)."""
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _assert_count_still_runs(llem_cli, tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    result = llem_cli("run", str(tmp_path / "good.yaml"), "--output", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "ok"


def test_sys_exit_at_import_is_a_broken_plugin(site, llem_cli, tmp_path):
    _install(site, "quitter", "import sys\nsys.exit('plugin says goodbye')\n")
    rows = _rows(llem_cli)
    assert rows[("quitter", "llem-quitter")]["status"] == "broken"
    assert "SystemExit: plugin says goodbye" in rows[("quitter", "llem-quitter")]["error"]
    assert rows[("count", "llem-count")]["status"] == "ok"
    doctor = llem_cli("doctor", "--json")
    assert doctor.exit_code == 0, doctor.output
    checks = {b["name"]: b for b in json.loads(doctor.stdout)["backends"]}
    assert checks["quitter"]["status"] == "broken" and checks["count"]["status"] == "ok"
    _assert_count_still_runs(llem_cli, tmp_path)


def test_misspelled_hookimpl_is_broken_not_ignored(site, llem_cli):
    _install(site, "typo", count_plugin(**{"def llem_unload(": "def llem_unlod("}))
    row = _rows(llem_cli)[("typo", "llem-typo")]
    assert row["status"] == "broken"
    assert "llem_unlod (did you mean llem_unload?)" in row["error"]


def test_hook_without_the_hookimpl_mark_is_broken(site, llem_cli):
    _install(site, "unmarked", count_plugin(**{"@hookimpl\ndef llem_unload(": "def llem_unload("}))
    row = _rows(llem_cli)[("unmarked", "llem-unmarked")]
    assert row["status"] == "broken" and "llem_unload not marked @hookimpl" in row["error"]


def test_missing_required_hook_is_broken(site, llem_cli):
    _install(site, "nogen", count_plugin(**{"@hookimpl\ndef llem_generate(": "def _generate("}))
    row = _rows(llem_cli)[("nogen", "llem-nogen")]
    assert row["status"] == "broken" and row["error"] == "does not implement llem_generate"


def test_capabilities_raising_breaks_only_that_plugin(site, llem_cli, tmp_path):
    _install(
        site,
        "nocaps",
        count_plugin(
            **{
                "    return Capabilities(": "    raise RuntimeError('no caps today')\n"
                "    return Capabilities("
            }
        ),
    )
    row = _rows(llem_cli)[("nocaps", "llem-nocaps")]
    assert (
        row["status"] == "broken" and "llem_capabilities raised RuntimeError: no caps today" in row["error"]
    )
    matrix = llem_cli("backends", "matrix")
    assert matrix.exit_code == 0, matrix.output
    assert matrix.stdout.splitlines()[0] == "| Capability | count |"
    show = llem_cli("backends", "show", "nocaps")
    assert show.exit_code == 2
    assert _one_line_error(show).startswith(
        "llem: error: backend 'nocaps' is installed but broken: llem_capab"
    )
    assert llem_cli("backends", "show", "count").exit_code == 0
    (tmp_path / "c.yaml").write_text(GOOD.replace("backend: count", "backend: nocaps"))
    run = llem_cli("run", str(tmp_path / "c.yaml"), "--output", str(tmp_path / "out"))
    assert run.exit_code == 2
    assert (
        "backend 'nocaps' is installed but broken: llem_capabilities raised RuntimeError"
        in _one_line_error(run)
    )
    assert not (tmp_path / "out").exists()
    _assert_count_still_runs(llem_cli, tmp_path)


def test_capabilities_of_the_wrong_type_is_broken(site, llem_cli):
    _install(site, "dictcaps", count_plugin(**{"    return Capabilities(": "    return dict("}))
    row = _rows(llem_cli)[("dictcaps", "llem-dictcaps")]
    assert row["status"] == "broken" and "llem_capabilities returned dict" in row["error"]


VALIDATE_RAISES = {"    return []": "    raise KeyError('validate blew up')"}


def test_validate_raising_is_one_line_in_run_config_validate_and_study_plan(site, llem_cli, tmp_path):
    _install(site, "badval", count_plugin(**VALIDATE_RAISES))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(GOOD.replace("backend: count", "backend: badval"))
    run = llem_cli("run", str(cfg), "--output", str(tmp_path / "out"))
    assert run.exit_code == 2
    line = _one_line_error(run)
    assert "backend 'badval' is broken: llem_validate raised KeyError: 'validate blew up'" in line
    assert not (tmp_path / "out").exists()
    check = llem_cli("config", "validate", str(cfg))
    assert check.exit_code == 2
    assert _one_line_error(check).startswith(
        f"{cfg}: backend 'badval' is broken: llem_validate raised KeyError"
    )
    # a study over both backends plans the good one and prunes the broken one with its reason
    (tmp_path / "s.yaml").write_text(
        "base: {model: 'random:tiny-llama', backend: count, n_prompts: 2}\n"
        "sweep: {backend: [count, badval]}\n"
    )
    plan = llem_cli("study", "plan", str(tmp_path / "s.yaml"), "--json", cwd=tmp_path)
    assert plan.exit_code == 0, plan.output
    manifest = json.loads(plan.stdout)
    assert [p["config"]["backend"] for p in manifest["points"]] == ["count"]
    [reason] = [p["reason"] for p in manifest["pruned"]]
    assert reason.startswith(
        "backend 'badval' is broken: llem_validate raised KeyError: 'validate blew up' (llem_badval.py:"
    )
    _assert_count_still_runs(llem_cli, tmp_path)


def test_validate_returning_a_string_is_broken(site, llem_cli, tmp_path):
    _install(site, "strval", count_plugin(**{"    return []": "    return 'oops'"}))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(GOOD.replace("backend: count", "backend: strval"))
    check = llem_cli("config", "validate", str(cfg))
    assert check.exit_code == 2
    assert "llem_validate returned str, not a list of strings" in _one_line_error(check)


def test_a_second_distribution_cannot_take_over_a_backend(site, llem_cli, tmp_path):
    # another package registers the name `count` under its own entry point: both conflict, neither is used
    make_plugin_dist(site, "llem-impostor", {"llem_impostor": count_plugin()}, {"impostor": "llem_impostor"})
    rows = _rows(llem_cli)
    real, fake = rows[("count", "llem-count")], rows[("impostor", "llem-impostor")]
    assert real["status"] == fake["status"] == "conflict"
    assert "backend 'count' is also registered by llem-impostor 0.1.0" in real["error"]
    assert "backend 'count' is also registered by llem-count 0.1.0" in fake["error"]
    table = llem_cli("backends", "list")
    assert "llem-impostor" in table.stdout and "conflict" in table.stdout
    (tmp_path / "c.yaml").write_text(GOOD)
    run = llem_cli("run", str(tmp_path / "c.yaml"), "--output", str(tmp_path / "out"))
    assert run.exit_code == 2
    assert (
        "backend 'count' is registered by more than one plugin (llem-count 0.1.0, llem-impostor 0.1.0)"
        in (_one_line_error(run))
    )
    assert not (tmp_path / "out").exists()


def test_the_same_entry_point_name_from_two_distributions_conflicts(site, llem_cli):
    make_plugin_dist(
        site, "llem-count-fork", {"llem_count_fork": count_plugin()}, {"count": "llem_count_fork"}
    )
    rows = _rows(llem_cli)
    assert rows[("count", "llem-count")]["status"] == "conflict"
    assert rows[("count", "llem-count-fork")]["status"] == "conflict"
    assert "llem-count-fork 0.1.0" in rows[("count", "llem-count")]["error"]


def test_show_of_an_unknown_backend_suggests_no_package(site, llem_cli):
    result = llem_cli("backends", "show", "nosuch")
    assert result.exit_code == 2
    line = _one_line_error(result)
    assert line == "llem: error: backend 'nosuch' is not installed (installed: count)"
    assert "pip install" not in line
    close = llem_cli("backends", "show", "cont")
    assert _one_line_error(close).endswith("did you mean 'count'?")
    official = llem_cli("backends", "show", "vllm")
    assert _one_line_error(official) == "llem: error: backend 'vllm' is disabled by LLEM_DISABLE_PLUGINS"
