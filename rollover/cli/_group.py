"""The `rollover` group and the one place where errors become `Error:` lines, hints and exit
codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from rollover import __version__
from rollover.errors import ExitCode, LedgerMissing, ManifestInvalid, RolloverError

from ._files import rehearsal_ledger_hint
from ._options import CommandGroup

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn the core's errors into `Error:` lines and the contract's exit codes."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return command(*args, **kwargs)
        except RolloverError as exc:
            if debug:
                raise
            if isinstance(exc, ManifestInvalid):
                for warning in exc.warnings:
                    tell(f"Warning: {exc.path}: {warning}")
                for problem in exc.problems:
                    tell(f"{exc.path}: {problem}")
            tell(f"Error: {exc.message}")
            hint = exc.hint
            if isinstance(exc, LedgerMissing):
                hint = rehearsal_ledger_hint(exc.path) or hint
            if hint:
                tell(f"Hint: {hint}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            # Ctrl-C outside the run's own handlers (a check, the plan, the summary): every
            # ledger write is one transaction, so the ledger is consistent and a re-run resumes.
            if debug:
                raise
            tell("Error: interrupted; the ledger is consistent")
            tell("Hint: run the same command again to continue")
            sys.exit(ExitCode.STOPPED)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            # Not one of the tool's own errors: a bug. It never passes for a usage error (exit 2
            # says nothing was sent, which may be false by now); the ledger's last transaction
            # stands, so a re-run resumes.
            if debug:
                raise
            tell(f"Error: unexpected {type(exc).__name__}: {exc}")
            tell(
                "Hint: this is a bug in rollover. Run the same command again with "
                "`rollover --debug ...` for the traceback and report it; the ledger is "
                "consistent and a re-run resumes"
            )
            sys.exit(ExitCode.ROWS_NEED_ATTENTION)

    return wrapper  # type: ignore[return-value]


def tell(*lines: str, err: bool = True) -> None:
    """Print lines (to stderr unless `err` is false). A terminal that is gone (closed: EIO, a
    pipe nobody reads: EPIPE) is let go: fds 1 and 2 then lead to /dev/null, so neither these
    lines nor the interpreter's last flush turn a run that ended as it should into a traceback."""
    try:
        for line in lines:
            click.echo(line, err=err)
    except OSError:
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(null, fd)
        os.close(null)


def examples(*commands: str, title: str = "Examples:") -> str:
    """A --help epilog of example commands, kept as written (click's \\b: no rewrapping)."""
    return "\b\n" + "\n".join([title, *(f"  {command}" for command in commands)])


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rollover")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug events (never secrets).")
def cli(debug: bool) -> None:
    """Term rollover for Blackboard Learn: copy courses, wait for each copy, rename and re-date
    them, and write a results CSV. Every step is kept in a ledger, so a re-run resumes."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="rollover")
