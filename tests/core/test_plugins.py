"""Plugin discovery: entry points, isolation of broken plugins, strict/disable switches,
registration rules."""

from __future__ import annotations

import json

import pytest
from llem.plugins import get_plugin_manager, hookimpl
from llem.plugins.types import Capabilities
from plugin_dists import TOY_PLUGIN, make_plugin_dist

BROKEN_ON_IMPORT = "raise RuntimeError('this plugin is broken on purpose')\n"
BROKEN_ON_REGISTER = TOY_PLUGIN.replace(
    'register.add_backend("toy", config=ToyConfig, description="Test-only toy backend.")',
    "raise ValueError('cannot register today')",
)


@pytest.fixture
def mixed_site(toy_site):
    make_plugin_dist(toy_site, "llem-broken", {"llem_broken": BROKEN_ON_IMPORT}, {"broken": "llem_broken"})
    make_plugin_dist(
        toy_site, "llem-broken-reg", {"llem_broken_reg": BROKEN_ON_REGISTER}, {"brokenreg": "llem_broken_reg"}
    )
    return toy_site


def test_broken_plugins_are_listed_and_do_not_stop_the_cli(mixed_site, llem_cli):
    result = llem_cli("backends", "list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["toy"]["status"] == "ok" and rows["toy"]["backend"] == "toy"
    assert rows["toy"]["distribution"] == "llem-toy" and rows["toy"]["version"] == "0.1.0"
    assert rows["broken"]["status"] == "broken"
    assert "this plugin is broken on purpose" in rows["broken"]["error"]
    assert rows["brokenreg"]["status"] == "broken"
    assert "cannot register today" in rows["brokenreg"]["error"]
    # the table form shows the same, and --help still works
    table = llem_cli("backends", "list")
    assert table.exit_code == 0
    assert "broken" in table.stdout and "this plugin is broken on purpose" in table.stdout
    assert llem_cli("--help").exit_code == 0


def test_good_backend_still_usable_beside_broken_ones(mixed_site, llem_cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: random:tiny-llama\nbackend: toy\ntoy: {batch_size: 2}\n")
    result = llem_cli("config", "validate", str(cfg))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"{cfg}: ok"


def test_strict_mode_reraises(mixed_site, llem_cli):
    result = llem_cli("backends", "list", env={"LLEM_STRICT_PLUGINS": "1"})
    assert result.exit_code == 1, result.output  # re-raised: a traceback for the plugin author, not exit 2
    assert "Traceback" in result.stderr and "RuntimeError: this plugin is broken on purpose" in result.stderr
    assert result.stdout == ""


def test_disable_plugins(mixed_site, llem_cli):
    result = llem_cli("backends", "list", "--json", env={"LLEM_DISABLE_PLUGINS": "toy,broken,pytorch"})
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["toy"]["status"] == "disabled"
    assert rows["broken"]["status"] == "disabled"
    assert rows["brokenreg"]["status"] == "broken"  # not disabled, so still loaded (and still broken)
    enabled = llem_cli("schema", env={"LLEM_DISABLE_PLUGINS": ""})
    disabled = llem_cli("schema", env={"LLEM_DISABLE_PLUGINS": "toy"})
    assert enabled.exit_code == disabled.exit_code == 0, enabled.output + disabled.output
    assert "ToyConfig" in json.loads(enabled.stdout)["$defs"]
    assert "ToyConfig" not in json.loads(disabled.stdout)["$defs"]


class _Minimal:
    """A plugin object registered in-process (no entry point), as a third party's test would."""

    def __init__(self, name: str = "mini") -> None:
        self.backend_name = name

    @hookimpl
    def llem_register_backends(self, register):
        from llem.config import Section

        class MiniConfig(Section):
            pass

        register.add_backend(self.backend_name, config=MiniConfig)

    @hookimpl
    def llem_load(self, config, engine):
        return self.backend_name

    @hookimpl
    def llem_generate(self, handle, batch, config):
        return None

    @hookimpl
    def llem_capabilities(self):
        return Capabilities(
            precisions=(self.backend_name,), decoding_strategies=("greedy",), decoder_params=()
        )


def test_hooks_reach_only_the_named_backend():
    plugins = get_plugin_manager(entry_points=False)
    assert plugins.register(_Minimal("one"), "one")
    assert plugins.register(_Minimal("two"), "two")
    assert plugins.backend("one").capabilities().precisions == ("one",)
    assert plugins.backend("two").capabilities().precisions == ("two",)
    assert plugins.backend("two").load(None, None) == "two"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Bad-Name", "must match"),
        ("decoder", "clashes with an experiment config field"),
    ],
)
def test_bad_backend_names_mark_plugin_broken(name, expected):
    plugins = get_plugin_manager(entry_points=False)
    assert not plugins.register(_Minimal(name), "p")
    assert plugins.statuses["p"].status == "broken"
    assert expected in plugins.statuses["p"].error


def test_duplicate_backend_name_makes_both_unusable():
    from llem.errors import UserError

    plugins = get_plugin_manager(entry_points=False)
    assert plugins.register(_Minimal("same"), "first")
    assert not plugins.register(_Minimal("same"), "second")
    assert plugins.statuses["first"].status == plugins.statuses["second"].status == "conflict"
    assert "also registered by plugin 'first'" in plugins.statuses["second"].error
    assert "also registered by plugin 'second'" in plugins.statuses["first"].error
    assert "same" not in plugins.backends
    with pytest.raises(UserError, match="registered by more than one plugin"):
        plugins.backend("same")


def test_plugin_missing_required_hooks_is_broken():
    class NoGenerate:
        @hookimpl
        def llem_register_backends(self, register):
            raise AssertionError("never reached")

    plugins = get_plugin_manager(entry_points=False)
    assert not plugins.register(NoGenerate(), "nogen")
    assert "does not implement llem_load, llem_generate, llem_capabilities" in plugins.statuses["nogen"].error
    assert plugins.backends == {}


def test_unknown_backend_error_names_installed_ones():
    plugins = get_plugin_manager(entry_points=False)
    plugins.register(_Minimal("one"), "one")
    from llem.errors import UserError

    with pytest.raises(UserError, match=r"'nope' is not installed \(installed: one\)"):
        plugins.backend("nope")


def test_declarations_helper_accepts_toy(toy_site):
    from llem.testing import assert_backend_declarations

    assert_backend_declarations("toy")


def test_a_backend_whose_runtime_is_missing_is_listed_as_schema_only(llem_cli):
    pytest.importorskip("llem_tensorrt")
    import importlib.util

    if importlib.util.find_spec("tensorrt_llm") is not None:
        pytest.skip("tensorrt_llm is installed here: the backend can run")
    table = llem_cli("backends", "list", env={"LLEM_DISABLE_PLUGINS": ""})
    assert table.exit_code == 0, table.output
    (row,) = [line for line in table.stdout.splitlines() if line.startswith("tensorrt ")]
    assert "schema only (tensorrt_llm not installed)" in row and " ok" not in row
    rows = {r["name"]: r for r in json.loads(llem_cli("backends", "list", "--json").stdout)}
    assert (
        rows["tensorrt"]["runtime_missing"] == ["tensorrt_llm"] and rows["pytorch"]["runtime_missing"] == []
    )
