"""Crash at every ledger transition, before and after it is written, then resume: exactly once.

A crash is simulated in-process by raising from the ledger's transition seam, which unwinds the
engine mid-flight (its HTTP calls cancelled) exactly where a `kill -9` would stop it; the next
run reopens the same ledger against the same simulated Learn. The soak test does the same with
real processes and SIGKILL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from harness import Learn, engine_run, make_learn, row

from rollover.engine import Rollover, RunOptions
from rollover.ledger import Ledger, LedgerRow, State
from rollover.plan import row_spec

OPTIONS = RunOptions(poll_min=2.0, poll_max=10.0, adopt_settle=60.0)
NEW, SHELL = "BIO-101-001-SP27", "HIST-210-SP27"
ROWS = [
    row(2, "BIO-101-FA26", NEW, name="Biology 101 (Spring 2027)", term_id="SP27"),
    row(3, "CHEM-110-FA26", "CHEM-110-001-SP27", name="Chemistry 110 (Spring 2027)"),
    row(4, "CHEM-110-FA26", SHELL, copy_into_existing=True, name="History 210 (Spring 2027)"),
]
CRASH_STATES = (State.INTENT, State.LOCATED, State.COPIED, State.PATCHED, State.DONE)


class SimulatedCrash(BaseException):
    """Raised at the chosen point: not an Exception, so no handler in the tool swallows it."""


def crash_run(learn: Learn, ledger_path: Path, target: str, state: State, when: str) -> bool:
    """Run until `target` is about to enter (`before`) or has entered (`after`) `state`."""
    crashed = False

    def before(row_target: str, to: State) -> None:
        nonlocal crashed
        if when == "before" and (row_target, to) == (target, state):
            crashed = True
            raise SimulatedCrash

    def after(ledger_row: LedgerRow, *_: object) -> None:
        nonlocal crashed
        if when == "after" and (ledger_row.target_course_id, ledger_row.state) == (target, state):
            crashed = True
            raise SimulatedCrash

    async def scenario() -> None:
        with Ledger(ledger_path, clock=learn.clock.datetime) as ledger:
            ledger.sync_manifest([row_spec(r) for r in ROWS])
            ledger.before_transition, ledger.observer = before, after
            async with learn.client() as client:
                await Rollover(
                    ledger, client, OPTIONS, clock=learn.clock.datetime, sleep=learn.clock.sleep
                ).run()

    try:
        asyncio.run(scenario())
    except (SimulatedCrash, BaseExceptionGroup) as exc:
        if isinstance(exc, BaseExceptionGroup):
            assert exc.subgroup(SimulatedCrash) is not None, exc
    return crashed


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("state", CRASH_STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("target", [NEW, SHELL])
def test_crash_then_resume_copies_exactly_once(
    tmp_path: Path, target: str, state: State, when: str
) -> None:
    """Whatever transition the crash hits, the re-run ends every row final, each copied once."""
    learn = make_learn(copy_seconds=15.0, slots=2)
    ledger_path = tmp_path / "l.sqlite"
    assert crash_run(learn, ledger_path, target, state, when), "the crash point was not reached"
    _, final = engine_run(learn, ROWS, ledger_path, OPTIONS)
    record = learn.sandbox.record
    by_target = {r.target_course_id: r for r in final}
    copies = record.copies_per_target()
    assert all(count == 1 for count in copies.values()), copies
    assert all(patch.copy_complete for patch in record.patches)
    shell_lost = target == SHELL and (when, state) in (
        ("after", State.INTENT),
        ("before", State.LOCATED),
    )
    for r in final:
        if r.target_course_id == SHELL and shell_lost:
            # The answer to an additive copy was lost to the crash: a person decides.
            assert r.state is State.NEEDS_REVIEW, r
            assert copies.get(SHELL, 0) == (1 if when == "before" else 0)
        else:
            assert r.state is State.DONE, r
            assert copies[r.target_course_id] == 1
            assert r.course_pk
    assert by_target[NEW].state is State.DONE
    patched = {p.course_id for p in record.patches}
    assert {r.target_course_id for r in final if r.state is State.DONE} <= patched
