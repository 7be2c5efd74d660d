"""The server backend as a plugin: the contract every backend meets, the CLI, validation, request fields."""

import pytest
from llem.plugins.manager import get_plugin_manager
from llem.plugins.types import DeviceInfo, Prompt
from llem.plugins.validate import validate_experiment
from llem.run.api import load_config
from llem.testing import assert_backend_declarations
from llem_server._handle import request_format, resolve_headers


def test_backend_contract(llem_plugins):
    assert_backend_declarations(
        "server", plugins=llem_plugins
    )  # a real server run: tests/server/test_serve*.py
    assert llem_plugins.backend("server").capabilities().serving is True


def test_cli_shows_the_server_section(llem_cli):
    result = llem_cli("backends", "show", "server")
    assert result.exit_code == 0, result.output
    for field in (
        "server.url",
        "server.start_command",
        "server.ready_timeout_s",
        "server.fixed_length_params",
    ):
        assert field in result.stdout


def _config(**top):
    return load_config({"model": "m", "backend": "server", "load": {"request_rate": 1.0}, **top})


def test_without_a_load_section_the_server_backend_says_what_to_add():
    config = load_config({"model": "m", "backend": "server"})
    problems = validate_experiment(config, DeviceInfo(), get_plugin_manager())
    assert any("add a load section, e.g. load: {request_rate: 1.0}" in p for p in problems)


def test_chat_needs_text_prompts():
    problems = validate_experiment(_config(server={"api": "chat"}), DeviceInfo(), get_plugin_manager())
    assert any("server.api: chat needs text prompts" in p for p in problems)


def test_an_offline_backend_refuses_a_load_section(tmp_path):
    from llem.errors import UserError
    from llem.run.lifecycle import run_experiment

    config = load_config(
        {
            "model": "random:tiny-llama",
            "backend": "pytorch",
            "load": {"request_rate": 1.0},
            "output_dir": str(tmp_path),
        }
    )
    with pytest.raises(UserError, match="load: backend 'pytorch' does not serve requests"):
        run_experiment(config)
    assert list(tmp_path.iterdir()) == []


def test_body_of_completions_and_chat():
    config = _config(
        max_output_tokens=9, fixed_output_length=False, decoder={"temperature": 0.7, "top_p": 0.9}
    )
    fmt = request_format(config, config.section(), model="mdl")
    body = fmt.body(Prompt(token_ids=[1, 2]))
    assert body["prompt"] == [1, 2] and body["model"] == "mdl" and body["max_tokens"] == 9
    assert "min_tokens" not in body and "ignore_eos" not in body  # lengths not fixed
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9
    chat = request_format(
        _config(server={"api": "chat"}), _config(server={"api": "chat"}).section(), model="m"
    )
    assert chat.path == "/v1/chat/completions"
    assert chat.body(Prompt(text="hi"))["messages"] == [{"role": "user", "content": "hi"}]


def test_header_values_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("LLEM_TEST_KEY", "Bearer s3cret")
    assert resolve_headers({"Authorization": "env:LLEM_TEST_KEY", "X": "y"}) == {
        "Authorization": "Bearer s3cret",
        "X": "y",
    }
    monkeypatch.delenv("LLEM_TEST_KEY")
    problems = validate_experiment(
        _config(server={"headers": {"Authorization": "env:LLEM_TEST_KEY"}}),
        DeviceInfo(),
        get_plugin_manager(),
    )
    assert problems == ["server.headers.Authorization: environment variable LLEM_TEST_KEY is not set"]
    with pytest.raises(
        ValueError, match=r"server\.headers\.Authorization: environment variable LLEM_TEST_KEY"
    ):
        resolve_headers({"Authorization": "env:LLEM_TEST_KEY"})
