"""How a run ended, and what that means for the process's exit code."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rollover.errors import ExitCode, RolloverError
from rollover.ledger import RowStatus


@dataclass
class RunOutcome:
    """How a run ended."""

    stopped: str | None = None  # why it stopped early (resumable), None if it ran out of work
    fatal: RolloverError | None = None
    parked: list[str] = field(default_factory=list)  # rows left polling past --task-timeout


def exit_code(statuses: Counter[str], outcome: RunOutcome, *, changes_sent: int = 0) -> ExitCode:
    """The contract's exit code for a finished run.

    A fatal error that would mean "usage error, nothing sent" (credentials refused) becomes
    "stopped, resumable" once this run has sent Learn a request that may have changed it.
    """
    if outcome.fatal is not None:
        code = outcome.fatal.exit_code
        return ExitCode.STOPPED if code == ExitCode.USAGE and changes_sent else code
    if statuses.get(RowStatus.PENDING):
        return ExitCode.STOPPED
    if statuses.get(RowStatus.FAILED) or statuses.get(RowStatus.NEEDS_REVIEW):
        return ExitCode.ROWS_NEED_ATTENTION
    return ExitCode.ALL_DONE


def resumable(code: ExitCode) -> ExitCode:
    """The exit code of a run that could not write what it owes (the results, the report):
    3, resumable, instead of 0 or 1; a 2 stays (nothing was sent to Learn), and so does a 3."""
    if code in (ExitCode.ALL_DONE, ExitCode.ROWS_NEED_ATTENTION):
        return ExitCode.STOPPED
    return code
