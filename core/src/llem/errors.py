"""Errors the user can fix: one line, naming the field or file, exit status 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in user input (config, file, flag). The CLI prints it on one line and exits with status 2."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        self.message = message
        super().__init__(f"{source}: {message}" if source else message)


class ConfigError(UserError):
    """A config that does not validate; the message names the path, e.g. `$.pytorch.num_beams`."""
