"""Whether a config's `model` can be found at all, decided before anything loads (no network)."""

from __future__ import annotations

import difflib
from pathlib import Path

from llem.models.architectures import RANDOM_PREFIX, is_random, list_architectures, random_name

# How a local path is told from a hub id ("org/name" could be either): it starts like a path.
_PATH_STARTS = ("/", "./", "../", "~")


def model_problems(model: str) -> list[str]:
    """[model_problem(model)] when there is one, else []: ready to join the other validation problems."""
    problem = model_problem(model)
    return [problem] if problem is not None else []


def model_problem(model: str) -> str | None:
    """Why `model` can never load (an unknown bundled architecture, a missing local path), or None.

    Hub ids are not checked here: that needs the network, and the backend reports it when it loads."""
    if is_random(model):
        name = random_name(model)
        if name not in list_architectures():
            choices = ", ".join(RANDOM_PREFIX + n for n in list_architectures())
            close = difflib.get_close_matches(name, list(list_architectures()), n=1, cutoff=0.6)
            hint = f"did you mean {RANDOM_PREFIX}{close[0]}? " if close else ""
            return f"model: unknown bundled architecture {model} ({hint}choices: {choices})"
        return None
    if model.startswith(_PATH_STARTS) and not Path(model).expanduser().exists():
        return f"model: no such local folder {model}"
    return None
