"""A stop ends every wait of the run, and a Retry-After too long to wait stops it (issue 18).

The engine and client against the sandbox app on the virtual clock: a stop is requested some
virtual seconds into a wait, and the test reads how far virtual time moved and which calls
Learn saw. Real signals to a real process are in `test_stop_signals.py`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from harness import Learn, make_learn, rollover_on, row, sections

from rollover.engine import RunOptions, RunOutcome
from rollover.errors import FailedAfterChange
from rollover.ledger import Ledger, LedgerRow, State
from rollover.manifest import Manifest, ManifestRow
from rollover.progress import MinuteSummary, Progress
from rollover.runner import run

ROWS = [row(2, "BIO-101-FA26", "BIO-101-001-SP27")]
OPTIONS = RunOptions(poll_min=1.0, poll_max=30.0, adopt_settle=60.0)
CHICAGO = ZoneInfo("America/Chicago")


async def run_stopped_after(
    learn: Learn, ledger_path: Path, *, stop_at: float | None, manifest: list[ManifestRow] = ROWS
) -> tuple[RunOutcome, list[LedgerRow], float, int]:
    """Run the engine over the `manifest` rows and request a stop `stop_at` virtual seconds in (if given):
    the outcome, the rows, the virtual seconds the run took and the calls Learn saw after the
    stop."""
    async with rollover_on(learn, manifest, ledger_path, OPTIONS, zone=CHICAGO) as (
        ledger,
        engine,
    ):
        started = learn.clock.time()
        calls_at_stop: list[int] = []

        async def stop_later(seconds: float) -> None:
            await learn.clock.sleep(seconds)
            calls_at_stop.append(sum(learn.sandbox.record.calls.values()))
            engine.request_stop("SIGTERM")

        stopper = asyncio.ensure_future(stop_later(stop_at)) if stop_at is not None else None
        outcome = await engine.run()
        took = learn.clock.time() - started
        if stopper is not None:
            stopper.cancel()
        rows = ledger.rows()
    after = sum(learn.sandbox.record.calls.values()) - calls_at_stop[0] if calls_at_stop else 0
    return outcome, rows, took, after


def test_a_stop_ends_a_retry_after_wait_at_once(tmp_path: Path) -> None:
    """A gateway's 429 with Retry-After 600 (quota plenty): a stop 30 s into the wait ends
    the run then, not after 600 s, and no call is sent after it; the row stays located."""
    learn = make_learn(gateway_from=3, gateway_calls=1, gateway_retry_after=600)
    outcome, rows, took, after = asyncio.run(
        run_stopped_after(learn, tmp_path / "l.sqlite", stop_at=30.0)
    )
    assert learn.sandbox.record.faults["gateway"] == 1
    assert outcome.stopped == "SIGTERM"
    assert took < 35.0, took
    assert after == 0
    assert [r.state for r in rows] == [State.LOCATED]


def test_a_stop_ends_the_back_off_of_5xx_retries(tmp_path: Path) -> None:
    """A gateway failing every call with 503: a stop during the retries' back-off ends the run
    at once; the failure is not a row's (the row stays located) and nothing more is sent."""
    learn = make_learn(gateway_from=3, gateway_calls=1000, gateway_status=503)
    outcome, rows, took, after = asyncio.run(
        run_stopped_after(learn, tmp_path / "l.sqlite", stop_at=2.0)
    )
    assert learn.sandbox.record.faults["gateway"] >= 1
    assert outcome.stopped == "SIGTERM"
    assert took < 2.5, took
    assert after == 0
    assert [r.state for r in rows] == [State.LOCATED]


def test_a_stop_ends_the_shared_429_pause_of_other_workers(tmp_path: Path) -> None:
    """While one worker's 429 pauses every call for 600 s, a stop ends the others' waits too:
    the whole run ends within seconds of it."""
    learn = make_learn(gateway_from=4, gateway_calls=1, gateway_retry_after=600)
    rows = [row(2 + n, "BIO-101-FA26", f"BIO-101-00{n}-SP27") for n in range(3)]
    outcome, _, took, after = asyncio.run(
        run_stopped_after(learn, tmp_path / "l.sqlite", stop_at=10.0, manifest=rows)
    )
    assert learn.sandbox.record.faults["gateway"] == 1
    assert outcome.stopped == "SIGTERM"
    assert took < 15.0, took
    assert after == 0


def test_a_retry_after_over_15_minutes_stops_the_run_saying_when(tmp_path: Path) -> None:
    """A 429 asking for 3600 s is not waited out: the run stops at once, saying how long and
    until when in the run's zone; the row waits for the next run."""
    learn = make_learn(gateway_from=3, gateway_calls=1, gateway_retry_after=3600)
    outcome, rows, took, _ = asyncio.run(
        run_stopped_after(learn, tmp_path / "l.sqlite", stop_at=None)
    )
    until = (learn.clock.datetime() + timedelta(seconds=3600)).astimezone(CHICAGO)
    assert outcome.stopped == (
        f"Learn asks to wait 3600 s (until {until:%H:%M}): stopped; run again after that"
    )
    assert took < 60.0, took
    assert [r.state for r in rows] == [State.LOCATED]


def test_a_long_retry_after_on_the_copy_post_leaves_the_row_to_request_again(
    tmp_path: Path,
) -> None:
    """The copy POST answered 429 with Retry-After 3600 was not applied: the row is back at
    pending (no intent left to reconcile), the run stopped, and a later run copies it once."""
    learn = make_learn(gateway_from=2, gateway_calls=1, gateway_retry_after=3600)
    ledger_path = tmp_path / "l.sqlite"
    outcome, rows, _, _ = asyncio.run(run_stopped_after(learn, ledger_path, stop_at=None))
    assert outcome.stopped is not None and outcome.stopped.startswith("Learn asks to wait 3600 s")
    assert [r.state for r in rows] == [State.PENDING]
    assert learn.sandbox.record.copies == []
    again, rows, _, _ = asyncio.run(run_stopped_after(learn, ledger_path, stop_at=None))
    assert again.stopped is None
    assert [r.state for r in rows] == [State.DONE]
    assert learn.sandbox.record.copies_per_target() == {"BIO-101-001-SP27": 1}


class FailingAt(Progress):
    """Progress whose observer hook fails (as a bug would) once a row reaches `state`."""

    def __init__(self, state: State) -> None:
        super().__init__(MinuteSummary())
        self.state = state

    def observe(self, row: LedgerRow, from_state: str | None, detail: str | None) -> None:
        """Count the transition, then fail on the chosen state."""
        super().observe(row, from_state, detail)
        if row.state is self.state:
            raise RuntimeError(f"boom at {row.state.value}")


def run_failing_at(learn: Learn, tmp_path: Path, state: State) -> None:
    """`runner.run` over two rows with an observer that fails at `state`."""
    manifest = Manifest(
        path=tmp_path / "m.csv", rows=tuple(sections(2)), warnings=(), zone=ZoneInfo("UTC")
    )
    asyncio.run(
        run(
            manifest,
            learn.site(),
            ledger_path=tmp_path / "l.sqlite",
            results_path=tmp_path / "r.csv",
            options=OPTIONS,
            sleep=learn.clock.sleep,
            clock=learn.clock.datetime,
            monotonic=learn.clock.time,
            progress=FailingAt(state),
        )
    )


def test_a_bug_in_a_worker_after_a_change_ends_the_run_as_a_resumable_stop(
    tmp_path: Path,
) -> None:
    """An unexpected error in a worker once a copy was requested is exit 3 (FailedAfterChange,
    the original as its cause), not a bug's exit 1; the Location is in the ledger."""
    learn = make_learn(copy_seconds=30.0)
    with pytest.raises(FailedAfterChange) as raised:
        run_failing_at(learn, tmp_path, State.LOCATED)
    assert raised.value.exit_code == 3
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert "unexpected RuntimeError: boom at located" in raised.value.message
    with Ledger(tmp_path / "l.sqlite") as ledger:
        located = [r for r in ledger.rows() if r.state is State.LOCATED]
    assert located and all(r.task_location for r in located)


def test_a_bug_before_any_change_stays_a_bug(tmp_path: Path) -> None:
    """The same error before anything was sent that changes Learn is raised as it is (the CLI
    reports it as a bug, exit 1), not wrapped in a task group's ExceptionGroup."""
    learn = make_learn()
    with pytest.raises(RuntimeError, match="boom at intent"):
        run_failing_at(learn, tmp_path, State.INTENT)
    assert learn.sandbox.record.copies == []
