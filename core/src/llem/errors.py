"""Errors the user can fix: one line, naming the field or file, exit status 2."""

from __future__ import annotations

import traceback
from pathlib import Path


class UserError(Exception):
    """A mistake in user input (config, file, flag). The CLI prints it on one line and exits with status 2."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        self.message = message
        super().__init__(f"{source}: {message}" if source else message)


class ConfigError(UserError):
    """A config that does not validate; the message names the path, e.g. `$.pytorch.num_beams`."""


def one_line(exc: BaseException, *, where: bool = False, max_len: int | None = None) -> str:
    """`Type: message` on one line (whitespace collapsed), for results, statuses and study records.

    where: append the file and line the exception came from; max_len: cut longer text with "...".
    """
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if where and exc.__traceback__ is not None:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        text += f" ({Path(last.filename).name}:{last.lineno})"
    if max_len is not None and len(text) > max_len:
        text = text[: max_len - 3] + "..."
    return text
