"""`status --check`: one Nagios/Icinga plugin line and its exit code, read from the ledger.

CRITICAL (2) when rows failed; WARNING (1) when rows need review, or rows are pending (with a
threshold: only once the ledger has recorded nothing for longer than it, so a run making
progress stays OK); OK (0) otherwise. A ledger that cannot be read is CRITICAL, with the reason.
Performance data after `|` counts rows by status, and the seconds since the last update.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from rollover.errors import LedgerError, printable
from rollover.ledger import RowStatus
from rollover.times import humanized, utc_now

from ._night import read_ledger

OK, WARNING, CRITICAL = 0, 1, 2
_WORDS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}


class CheckResult(NamedTuple):
    """The plugin's exit code and its one line of output."""

    exit_code: int
    line: str


def check(
    ledger_path: Path,
    *,
    pending_warning_after: timedelta | None = None,
    now: datetime | None = None,
) -> CheckResult:
    """The monitoring verdict on the ledger at `ledger_path` (never created, never written)."""
    try:
        read = read_ledger(ledger_path)
    except LedgerError as exc:
        return CheckResult(
            CRITICAL, f"ROLLOVER CRITICAL - cannot read the ledger: {printable(exc.message)}"
        )
    moment = now if now is not None else utc_now()
    counts = read.counts()
    total = sum(counts.values())
    failed, review = counts[RowStatus.FAILED], counts[RowStatus.NEEDS_REVIEW]
    pending = counts[RowStatus.PENDING]
    last = read.last_update()
    age = max(0.0, (moment - last).total_seconds()) if last is not None else None
    stalled = pending > 0 and (
        pending_warning_after is None or age is None or age > pending_warning_after.total_seconds()
    )
    code = CRITICAL if failed else WARNING if review or stalled else OK

    problems = [
        f"{count} {status}"
        for status, count in (
            (RowStatus.FAILED, failed),
            (RowStatus.NEEDS_REVIEW, review),
            (RowStatus.PENDING, pending),
        )
        if count
    ]
    if not total:
        text = "no rows in the ledger"
    elif problems:
        text = f"{', '.join(problems)} of {total}"
    else:
        text = f"{counts[RowStatus.DONE]} done of {total}"
    if pending and age is not None:
        if pending_warning_after is not None and stalled:
            text += f"; nothing recorded for {humanized(age)}"
        else:
            text += f"; last update {humanized(age)} ago"
    perfdata = " ".join(f"{status}={count}" for status, count in counts.items())
    if age is not None:
        perfdata += f" age={round(age)}s"
    return CheckResult(code, f"ROLLOVER {_WORDS[code]} - {text} | {perfdata}")
