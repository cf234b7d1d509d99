"""How a run ended, and what that means for the process's exit code."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rollover.errors import RolloverError

USAGE = 2  # the contract's "nothing was sent": never once a change reached Learn
STOPPED = 3


@dataclass
class RunOutcome:
    """How a run ended."""

    stopped: str | None = None  # why it stopped early (resumable), None if it ran out of work
    fatal: RolloverError | None = None
    parked: list[str] = field(default_factory=list)  # rows left polling past --task-timeout


def exit_code(statuses: Counter[str], outcome: RunOutcome, *, changes_sent: int = 0) -> int:
    """The contract's exit code for a finished run.

    A fatal error that would mean "usage error, nothing sent" (credentials refused) becomes
    "stopped, resumable" once this run has sent Learn a request that may have changed it.
    """
    if outcome.fatal is not None:
        code = outcome.fatal.exit_code
        return STOPPED if code == USAGE and changes_sent else code
    if statuses.get("pending"):
        return STOPPED
    if statuses.get("failed") or statuses.get("needs_review"):
        return 1
    return 0
