"""Clock steps: an NTP step of the wall clock mid-run moves no interval (polls, task timeout,
settle), which are measured on the monotonic clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from harness import Learn, make_learn, sections

from rollover.engine import Rollover, RunOptions, RunOutcome
from rollover.ledger import Ledger, LedgerRow, State
from rollover.plan import row_spec

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
        with Ledger(ledger_path, clock=wall) as ledger:
            ledger.sync_manifest([row_spec(r) for r in sections(4)])
            ledger.observer = observe
            async with learn.client(clock=wall) as client:
                engine = Rollover(
                    ledger,
                    client,
                    options,
                    clock=wall,
                    sleep=learn.clock.sleep,
                    monotonic=learn.clock.time,
                )
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
    """Adopted copies wait --adopt-settle on the monotonic clock: a step forward patches none
    early (before its copy ends), a step back makes none wait an hour more."""
    learn = make_learn(copy_seconds=60.0, slots=4, drop_copy_response_rate=1.0)
    options = RunOptions(poll_min=5.0, poll_max=60.0, adopt_settle=300.0, task_timeout=3000.0)
    started = learn.clock.time()
    outcome, rows = stepped_run(learn, tmp_path / "l.sqlite", options, step, State.COPIED)
    assert outcome.fatal is None and outcome.parked == []
    assert [r.state for r in rows] == [State.DONE] * 4, [r.error for r in rows]
    assert not [p for p in learn.sandbox.record.patches if not p.copy_complete]
    assert learn.clock.time() - started < 300.0 + 120.0  # the settle, not an hour more
