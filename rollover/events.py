"""The run's row events: one structured log event (`row.<state>`) per ledger transition.

The ledger calls its observer after each transition's commit; `transition_logger` is the
observer that logs it, and `both` lets the progress counts observe the same transitions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from rollover.ledger import LedgerRow, Observer

log = structlog.get_logger("rollover")


def transition_logger(clock: Callable[[], datetime], run_started: datetime) -> Observer:
    """The ledger observer that logs each row's state change, with seconds since its intent."""

    def log_transition(row: LedgerRow, from_state: str | None, detail: str | None) -> None:
        since = row.intent_at or run_started
        log.info(
            "row." + row.state.value,
            line=row.line,
            source=row.source_course_id,
            target=row.target_course_id,
            previous=from_state,
            task=row.task_location,
            attempt=row.attempts,
            elapsed=round((clock() - since).total_seconds(), 3),
            detail=detail,
        )

    return log_transition


def both(first: Observer, second: Observer) -> Observer:
    """One ledger observer that calls two, in order."""

    def observe(row: LedgerRow, from_state: str | None, detail: str | None) -> None:
        first(row, from_state, detail)
        second(row, from_state, detail)

    return observe
