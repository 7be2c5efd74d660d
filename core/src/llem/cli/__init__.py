"""The `llem` command line: thin click commands that parse, call library functions and print.

Subcommands are imported only when invoked, so `llem --help` and `llem backends list` stay fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from llem.errors import UserError

# command name -> "module:attribute" of the click command, imported on first use.
COMMANDS = {
    "backends": "llem.cli.backends:backends",
    "config": "llem.cli.config:config",
    "doctor": "llem.cli.doctor:doctor",
    "schema": "llem.cli.config:schema",
    "models": "llem.cli.models:models",
    "run": "llem.cli.run:run",
    "study": "llem.cli.study:study",
    "report": "llem.cli.report:report",
    "results": "llem.cli.results:results",
    "compare": "llem.cli.results:compare",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    version=None, package_name="llem-core", prog_name="llem", message="%(prog)s %(version)s"
)
def cli() -> None:
    """llem: measure the energy, throughput and latency of LLM inference, for any backend."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point: user errors print one line and exit 2; bugs still raise."""
    try:
        value = cli.main(args=argv, prog_name="llem", standalone_mode=False)
        sys.stdout.flush()
        return value
    except OSError as exc:
        if not _stdout_broken(exc):
            raise
        # stdout is a full disk, /dev/full or a closed pipe: say so once; what is still buffered drains
        # into /dev/null at exit instead of raising a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        click.echo(f"llem: error: cannot write the output: {exc.strerror or exc}", err=True)
        sys.exit(2)
    except UserError as exc:
        click.echo(f"llem: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("llem: aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        click.echo(f"llem: error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)


def _stdout_broken(exc: OSError) -> bool:
    """True if `exc` came from writing to stdout (click.echo to stdout, or the final flush)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and tb.tb_frame.f_locals.get("file") is sys.stdout:
        return True
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return False
