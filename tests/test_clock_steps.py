"""Clock steps: an NTP step of the wall clock mid-run moves no interval (polls, task timeout,
settle), which are measured on the monotonic clock; a step between runs changes no adoption,
since the intent's time is kept on Learn's clock."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from harness import Learn, engine_run, make_learn, rollover_on, sections

from rollover.engine import RunOptions, RunOutcome
from rollover.ledger import LedgerRow, State
from rollover.manifest import ManifestRow

HOUR = timedelta(hours=1)


def stepped_run(
    learn: Learn, ledger_path: Path, options: RunOptions, step: timedelta, when: State
) -> tuple[RunOutcome, list[LedgerRow]]:
    """One engine run whose wall clock steps by `step` the first time a row reaches `when`."""
    offset = timedelta(0)

    def wall() -> datetime:
        return learn.clock.datetime() + offset

    def observe(row: LedgerRow, *_: object) -> None:
        nonlocal offset
        if row.state is when and not offset:
            offset = step

    async def go() -> tuple[RunOutcome, list[LedgerRow]]:
        async with rollover_on(learn, sections(4), ledger_path, options, wall=wall) as (
            ledger,
            engine,
        ):
            ledger.observer = observe
            outcome = await engine.run()
            return outcome, ledger.rows()

    return asyncio.run(go())


@pytest.mark.parametrize("step", [HOUR, -HOUR])
def test_a_wall_clock_step_while_polling_times_out_nothing(tmp_path: Path, step: timedelta) -> None:
    """Copies of two minutes with a 30-minute --task-timeout: a one-hour step of the wall
    clock, forward or back, mid-copy parks no row; every row is copied once and done."""
    learn = make_learn(copy_seconds=120.0, slots=4)
    options = RunOptions(poll_min=5.0, poll_max=60.0, task_timeout=1800.0)
    outcome, rows = stepped_run(learn, tmp_path / "l.sqlite", options, step, State.LOCATED)
    assert outcome.parked == [] and outcome.fatal is None
    assert [r.state for r in rows] == [State.DONE] * 4
    assert len(learn.sandbox.record.copies) == 4


@pytest.mark.parametrize("step", [HOUR, -HOUR])
def test_a_wall_clock_step_during_the_settle_neither_shortens_nor_stretches_it(
    tmp_path: Path, step: timedelta
) -> None:
    """Adopted copies wait --adopt-settle on the monotonic clock (before the PATCH, and before
    the read-back that proves them): a step forward patches none early (before its copy ends),
    a step back makes none wait an hour more."""
    learn = make_learn(copy_seconds=60.0, slots=4, drop_copy_response_rate=1.0)
    options = RunOptions(poll_min=5.0, poll_max=60.0, adopt_settle=300.0, task_timeout=3000.0)
    started = learn.clock.time()
    outcome, rows = stepped_run(learn, tmp_path / "l.sqlite", options, step, State.COPIED)
    assert outcome.fatal is None and outcome.parked == []
    assert [r.state for r in rows] == [State.DONE] * 4, [r.error for r in rows]
    assert not [p for p in learn.sandbox.record.patches if not p.copy_complete]
    assert learn.clock.time() - started < 2 * 300.0 + 120.0  # two settles, not an hour more


def stopped_at_an_intent(
    learn: Learn,
    ledger_path: Path,
    rows: list[ManifestRow],
    options: RunOptions,
    stopping: str,
    skew: timedelta,
) -> list[LedgerRow]:
    """A run on a wall clock `skew` off the true time, stopped as the row `stopping`'s copy
    request leaves (every copy answer is lost); the rows it left."""

    def wall() -> datetime:
        return learn.clock.datetime() + skew

    async def go() -> list[LedgerRow]:
        async with rollover_on(learn, rows, ledger_path, options, wall=wall) as (
            ledger,
            engine,
        ):

            def stop_as_its_copy_is_sent(request: httpx.Request) -> None:
                # Once the POST has left (a stop before it puts the row back to pending).
                if request.method == "POST" and stopping.encode() in request.content:
                    engine.request_stop("test stop")

            learn.transport.before = stop_as_its_copy_is_sent
            try:
                await engine.run()
            finally:
                learn.transport.before = None
            return ledger.rows()

    return asyncio.run(go())


LOST = RunOptions(concurrency=1, poll_min=5.0, poll_max=60.0, adopt_settle=60.0)


@pytest.mark.parametrize("stopped_at", [0, 1])
def test_an_intent_made_with_the_clock_fast_is_adopted_by_a_run_with_it_right(
    tmp_path: Path, stopped_at: int
) -> None:
    """An intent committed while this machine's clock was 60 s fast, its answer lost, the run
    stopped: the re-run with the clock right still knows the new course as its own (the
    intent's time was kept on Learn's clock, from the answer after it when it was the run's
    first, else from those before) and ends every row done, each copied once."""
    learn = make_learn(copy_seconds=20.0, slots=4, drop_copy_response_rate=1.0)
    ledger_path = tmp_path / "l.sqlite"
    rows = sections(2)
    stopping = rows[stopped_at].target_course_id
    stopped = stopped_at_an_intent(learn, ledger_path, rows, LOST, stopping, timedelta(seconds=60))
    left = stopped[stopped_at]
    assert left.state is State.INTENT and left.intent_site_at is not None, left
    outcome, final = engine_run(learn, rows, ledger_path, LOST)
    assert outcome.fatal is None
    assert [r.state for r in final] == [State.DONE] * 2, [r.error for r in final]
    assert learn.sandbox.record.copies_per_target() == dict.fromkeys(
        (r.target_course_id for r in rows), 1
    )


def test_an_intent_without_learns_time_is_compared_as_before(tmp_path: Path) -> None:
    """An intent an older ledger kept without Learn's time is compared in this machine's time
    plus the site's measured offset, as before: with the clock right, adopted and done."""
    learn = make_learn(copy_seconds=20.0, slots=4, drop_copy_response_rate=1.0, clock_skew=-300.0)
    ledger_path = tmp_path / "l.sqlite"
    rows = sections(1)
    stopped_at_an_intent(learn, ledger_path, rows, LOST, rows[0].target_course_id, timedelta(0))
    with sqlite3.connect(ledger_path) as db:  # as a schema-2 ledger is migrated
        db.execute("UPDATE rows SET intent_site_at = NULL")
    _, [final] = engine_run(learn, rows, ledger_path, LOST)
    assert final.intent_site_at is None
    assert final.state is State.DONE and final.adopted, final.error
    assert learn.sandbox.record.copies_per_target() == {rows[0].target_course_id: 1}
