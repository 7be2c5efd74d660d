"""The `pytest11` entry point of llem-core: it only declares the opt-in. Nothing else happens unless a test
suite sets `llem_fixtures = true`, so installing llem-core changes no one else's pytest runs."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "llem_fixtures", "register llem's fixtures (llem.testing.fixtures)", type="bool", default=False
    )
    parser.addini(
        "llem_backend", "the backend under test: llem_plugins loads only its entry point", default=""
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getini("llem_fixtures") and not config.pluginmanager.has_plugin("llem.testing.fixtures"):
        config.pluginmanager.import_plugin("llem.testing.fixtures")
