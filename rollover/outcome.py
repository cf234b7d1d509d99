"""How a run ended, and what that means for the results CSV and the process's exit code."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rollover.errors import RolloverError
from rollover.ledger import TERMINAL, State


@dataclass
class RunOutcome:
    """How a run ended."""

    stopped: str | None = None  # why it stopped early (resumable), None if it ran out of work
    fatal: RolloverError | None = None
    parked: list[str] = field(default_factory=list)  # rows left polling past --task-timeout


def results_status(state: State) -> str:
    """The results CSV's status for a ledger state."""
    if state in TERMINAL:
        return state.value
    return "pending"


def exit_code(statuses: Counter[str], outcome: RunOutcome) -> int:
    """The contract's exit code for a finished run."""
    if outcome.fatal is not None:
        return outcome.fatal.exit_code
    if statuses.get("pending"):
        return 3
    if statuses.get("failed") or statuses.get("needs_review"):
        return 1
    return 0
