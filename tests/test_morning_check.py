"""`status --check`: the Nagios/Icinga line and exit code for each state of a ledger."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from test_morning_ledgers import NIGHT_START, SteppingClock, build_night, build_rows

from rollover.ledger import Ledger
from rollover.morning import CRITICAL, OK, WARNING, CheckResult, check


def test_all_done_is_ok(tmp_path: Path) -> None:
    """Every row done: exit 0, `ROLLOVER OK`, counts and perfdata."""
    ledger = tmp_path / "l.sqlite"
    clock = SteppingClock(NIGHT_START)
    build_rows(ledger, done=3, clock=clock)
    result = check(ledger, now=clock.now + timedelta(hours=2))
    assert result == CheckResult(
        OK, "ROLLOVER OK - 3 done of 3 | done=3 failed=0 needs_review=0 pending=0 age=7200s"
    )
    assert result.exit_code == 0


def test_failed_rows_are_critical(tmp_path: Path) -> None:
    """Failed rows: exit 2, `ROLLOVER CRITICAL`, every problem counted, as the contract shows."""
    ledger = tmp_path / "l.sqlite"
    clock = SteppingClock(NIGHT_START)
    build_night(ledger, clock=clock)
    exit_code, line = check(ledger, now=clock.now + timedelta(minutes=5))
    assert exit_code == CRITICAL == 2
    assert line == (
        "ROLLOVER CRITICAL - 2 failed, 1 needs_review, 3 pending of 25; last update 5 min ago"
        " | done=19 failed=2 needs_review=1 pending=3 age=300s"
    )


def test_needs_review_is_a_warning(tmp_path: Path) -> None:
    """needs_review rows and no failed row: exit 1, `ROLLOVER WARNING`."""
    ledger = tmp_path / "l.sqlite"
    clock = SteppingClock(NIGHT_START)
    build_rows(ledger, done=2, needs_review=1, clock=clock)
    assert check(ledger, now=clock.now) == CheckResult(
        WARNING,
        "ROLLOVER WARNING - 1 needs_review of 3 | done=2 failed=0 needs_review=1 pending=0 age=0s",
    )


def test_pending_rows_warn_only_past_the_threshold(tmp_path: Path) -> None:
    """Pending rows warn at once without a threshold; with one, only once the ledger has
    recorded nothing for longer (a run making progress stays OK)."""
    ledger = tmp_path / "l.sqlite"
    clock = SteppingClock(NIGHT_START)
    build_rows(ledger, done=2, pending=1, clock=clock)
    soon, late = clock.now + timedelta(minutes=10), clock.now + timedelta(hours=3)
    hour = timedelta(hours=1)
    assert check(ledger, now=soon).exit_code == WARNING
    assert check(ledger, pending_warning_after=hour, now=soon) == CheckResult(
        OK,
        "ROLLOVER OK - 1 pending of 3; last update 10 min ago"
        " | done=2 failed=0 needs_review=0 pending=1 age=600s",
    )
    assert check(ledger, pending_warning_after=hour, now=late) == CheckResult(
        WARNING,
        "ROLLOVER WARNING - 1 pending of 3; nothing recorded for 3.0 h"
        " | done=2 failed=0 needs_review=0 pending=1 age=10800s",
    )


def test_a_missing_ledger_is_critical_and_is_not_created(tmp_path: Path) -> None:
    """No ledger: one CRITICAL line saying so (monitoring reads the line), and no file made."""
    missing = tmp_path / "missing.ledger.sqlite"
    assert check(missing, now=NIGHT_START) == CheckResult(
        CRITICAL, f"ROLLOVER CRITICAL - cannot read the ledger: no ledger at {missing}"
    )
    assert not missing.exists()


def test_a_run_recording_the_quota_counts_as_progress(tmp_path: Path) -> None:
    """A long copy makes no transition for hours, but the run records the quota every minute:
    that is an update too, so its pending rows stay OK under the threshold."""
    ledger_path = tmp_path / "l.sqlite"
    clock = SteppingClock(NIGHT_START)
    build_rows(ledger_path, done=2, pending=1, clock=clock)
    clock.advance(180)
    with Ledger(ledger_path, clock=clock) as ledger:
        ledger.record_quota(9000, 10000)
    result = check(ledger_path, pending_warning_after=timedelta(hours=1), now=clock.now)
    assert result.exit_code == OK and "last update 0 s ago" in result.line
