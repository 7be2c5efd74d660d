"""The example backend tested as its author would: llem.testing against the real core, and the real CLI."""

from __future__ import annotations

import json

from llem.testing import assert_backend_contract

TINY = {"model": "random:tiny-llama", "n_prompts": 3, "max_output_tokens": 5, "tinyengine": {"batch_size": 2}}


def test_contract_greedy():
    result = assert_backend_contract("tinyengine", {**TINY, "decoder": {"do_sample": False}})
    assert result.metrics.output_tokens == 15 and result.metrics.n_batches == 2
    assert result.decoder["strategy"] == "greedy" and "top_k" in result.decoder["ignored"]


def test_contract_sampling_and_escape_hatch():
    config = {**TINY, "decoder": {"top_k": 5}, "tinyengine": {"batch_size": 2, "extra_args": {"x": 1}}}
    result = assert_backend_contract("tinyengine", config)
    assert result.decoder["applied"]["top_k"] == 5
    assert result.unvalidated == {"tinyengine.extra_args": {"x": 1}}


def test_only_this_backend_is_loaded(llem_plugins):
    assert sorted(llem_plugins.statuses) == ["tinyengine"]


def test_unsupported_decoder_setting_is_refused_by_the_cli(llem_cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: random:tiny-llama\nbackend: tinyengine\ndecoder: {temperature: 0.5}\n")
    result = llem_cli("config", "validate", str(cfg))
    assert result.exit_code == 2
    assert "decoder.temperature: backend 'tinyengine' does not implement it" in result.stderr


def test_cli_lists_and_shows_it(llem_cli):
    rows = {row["name"]: row for row in json.loads(llem_cli("backends", "list", "--json").stdout)}
    assert rows["tinyengine"]["status"] == "ok" and rows["tinyengine"]["distribution"] == "llem-tinyengine"
    assert "tinyengine.mix_rounds" in llem_cli("backends", "show", "tinyengine").stdout
