"""The engine's shift of a copied course's dated items (issue 22), against the sandbox: the right
amount across a daylight-saving change, Learn's order rule kept both ways, each item moved once
from its recorded original, within the quota."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from harness import Learn, make_learn, rollover_on, row

from rollover.engine import RunOptions, RunOutcome
from rollover.ledger import DateState, ErrorKind, Ledger, LedgerRow, State
from rollover.manifest import DateShift, ManifestRow
from rollover.plan import row_spec, shift_moment
from rollover.sandbox import DatedItem, SeedCourse

SOURCE, TARGET = "ORD-101-FA26", "BIO-101-001-SP27"
CHICAGO = ZoneInfo("America/Chicago")
OPTIONS = RunOptions(poll_min=2.0, poll_max=10.0)


def make_site(**config: Any) -> Learn:
    """The harness's site, with the source these tests copy: every kind of dated item, four
    of its content items each released until the due date of the column that grades it (the
    tightest order Learn allows, so a write in the wrong order is a 400)."""
    ordered = SeedCourse(
        SOURCE,
        "Ordered 101 (Fall 2026)",
        term_id="FA26",
        contents=12,
        columns=6,
        dated_contents=5,
        dated_columns=4,
        announcements=3,
    )
    return make_learn(courses=[ordered, *config.pop("courses", [])], **config)


def shifted_row(shift: DateShift | None, **fields: Any) -> ManifestRow:
    """The one row these tests roll over: ORD-101-FA26 into a new course, dates shifted."""
    return row(2, SOURCE, TARGET, name="Biology 101 (Spring 2027)", shift=shift, **fields)


def run(
    learn: Learn,
    rows: list[ManifestRow],
    ledger_path: Path,
    options: RunOptions = OPTIONS,
    zone: ZoneInfo = CHICAGO,
) -> tuple[RunOutcome, LedgerRow, list[int]]:
    """One run in `zone`: how it ended, the row, and every HTTP status Learn answered."""
    statuses: list[int] = []
    learn.transport.after = lambda _, response: statuses.append(response.status_code)

    async def scenario() -> tuple[RunOutcome, LedgerRow]:
        async with rollover_on(learn, rows, ledger_path, options, zone=zone) as (ledger, engine):
            outcome = await engine.run()
            return outcome, ledger.row(TARGET)

    try:
        outcome, final = asyncio.run(scenario())
    finally:
        learn.transport.after = None
    return outcome, final, statuses


def shifted_kinds(learn: Learn, course_id: str) -> list[DatedItem]:
    """The course's dated items a run without --shift-calendar moves: all but calendar items."""
    found = learn.sandbox.dated_items(f"courseId:{course_id}")
    return [item for item in found if item.kind != "calendar"]


def originals(learn: Learn) -> dict[tuple[str, str], dict[str, datetime]]:
    """The source's dated items by (kind, title), as the copy brought them: its originals."""
    return {
        (item.kind, item.title): {f: _parse(v) for f, v in item.dates.items()}
        for item in shifted_kinds(learn, SOURCE)
    }


def assert_moved_once(learn: Learn, days: int, zone: ZoneInfo) -> None:
    """Every date of the target moved exactly once, to its original shifted by `days`."""
    before = originals(learn)
    now = {
        (item.kind, item.title): {f: _parse(v) for f, v in item.dates.items()}
        for item in shifted_kinds(learn, TARGET)
    }
    assert now.keys() == before.keys()
    for key, dates in before.items():
        assert now[key] == {f: shift_moment(d, days, zone) for f, d in dates.items()}, key
    changes = Counter(
        (c.item_id, c.field) for c in learn.sandbox.date_changes(f"courseId:{TARGET}")
    )
    assert set(changes.values()) == {1}, changes
    assert sum(changes.values()) == sum(len(dates) for dates in before.values())


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_shift_across_daylight_saving_keeps_local_times(tmp_path: Path) -> None:
    """+119d in America/Chicago moves every date once and keeps its local time across the DST change."""
    learn = make_site()
    outcome, final, statuses = run(learn, [shifted_row(DateShift(days=119))], tmp_path / "l.db")
    assert outcome.stopped is None and final.state is State.DONE, final
    assert final.shift_days == 119 and final.dates_shifted == final.dates_to_shift > 0
    assert 400 not in statuses
    changes = learn.sandbox.date_changes(f"courseId:{TARGET}")
    crossing = 0
    for change in changes:
        assert change.old is not None
        old, new = _parse(change.old).astimezone(CHICAGO), _parse(change.new).astimezone(CHICAGO)
        assert new.time() == old.time() and new.date() == old.date() + timedelta(days=119)
        crossing += old.utcoffset() != new.utcoffset()
    assert crossing > 0  # some dates moved from standard time into daylight saving time
    assert_moved_once(learn, 119, CHICAGO)


def test_backward_shift_keeps_learns_order_rule(tmp_path: Path) -> None:
    """A backward shift writes contents before columns: Learn never answers 400, all dates move."""
    learn = make_site()
    outcome, final, statuses = run(learn, [shifted_row(DateShift(days=-35))], tmp_path / "l.db")
    assert outcome.stopped is None and final.state is State.DONE, final
    assert 400 not in statuses
    assert_moved_once(learn, -35, CHICAGO)


def test_a_changed_shift_moves_from_the_originals(tmp_path: Path) -> None:
    """A shift changed after a run moves each date to original + new offset, never compounded."""
    learn = make_site()
    ledger = tmp_path / "l.db"
    run(learn, [shifted_row(DateShift(days=7))], ledger)
    _, final, statuses = run(learn, [shifted_row(DateShift(days=21))], ledger)
    assert final.state is State.DONE and final.shift_days == 21, final
    assert 400 not in statuses
    before = originals(learn)
    for item in shifted_kinds(learn, TARGET):
        expected = before[(item.kind, item.title)]
        assert {f: _parse(v) for f, v in item.dates.items()} == {
            f: shift_moment(d, 21, CHICAGO) for f, d in expected.items()
        }
    # And back (forward from +21 to -7): the rule holds in that direction too.
    _, final, statuses = run(learn, [shifted_row(DateShift(days=-7))], ledger)
    assert final.state is State.DONE and 400 not in statuses, final


def test_a_shift_taken_out_moves_dates_back(tmp_path: Path) -> None:
    """A shift removed from the manifest after the dates moved puts them back to the originals."""
    learn = make_site()
    ledger = tmp_path / "l.db"
    run(learn, [shifted_row(DateShift(days=14))], ledger)
    _, final, statuses = run(learn, [shifted_row(None)], ledger)
    assert final.state is State.DONE and final.shift_days == 0, final
    assert 400 not in statuses
    before = originals(learn)
    now = {
        (item.kind, item.title): {f: _parse(v) for f, v in item.dates.items()}
        for item in shifted_kinds(learn, TARGET)
    }
    assert now == before


def test_term_shift_runs_from_the_sources_start(tmp_path: Path) -> None:
    """`term` moves dates from the source's start to the row's start_date, in whole weeks."""
    learn = make_site()
    source = learn.sandbox.course(f"courseId:{SOURCE}")
    assert source is not None
    # A person gave the source its term's dates: Monday 2026-01-12, 08:00 in Chicago.
    source.data["availability"]["duration"] = {
        "type": "DateRange",
        "start": "2026-01-12T14:00:00.000Z",
        "end": "2026-05-08T14:00:00.000Z",
    }
    starts = datetime(2026, 5, 11, 13, tzinfo=UTC)  # 17 weeks later, a Monday
    shifted = shifted_row(
        DateShift(term=True), start_date=starts, end_date=starts + timedelta(weeks=16)
    )
    _, final, _ = run(learn, [shifted], tmp_path / "l.db")
    assert final.state is State.DONE and final.shift_days == 17 * 7, final
    assert_moved_once(learn, 17 * 7, CHICAGO)


def test_term_shift_without_a_source_start_fails_naming_it(tmp_path: Path) -> None:
    """`term` from a source with no start fails the row naming the source and a constant shift."""
    learn = make_site()
    starts = datetime(2026, 5, 11, 13, tzinfo=UTC)
    shifted = shifted_row(
        DateShift(term=True), start_date=starts, end_date=starts + timedelta(weeks=16)
    )
    _, final, _ = run(learn, [shifted], tmp_path / "l.db")
    assert final.state is State.FAILED and final.error_kind is ErrorKind.DATES_REFUSED
    assert final.error is not None and SOURCE in final.error and "+119d" in final.error
    assert learn.sandbox.date_changes(f"courseId:{TARGET}") == []


def test_a_closed_course_fails_the_row_naming_it(tmp_path: Path) -> None:
    """Learn's 403 on a closed course fails the row once, in Learn's words, then retries only dates."""
    learn = make_site()
    ledger = tmp_path / "l.db"

    def close_once_patched(request: httpx.Request, response: httpx.Response) -> None:
        if request.method == "PATCH" and "/v3/courses/" in request.url.path:
            course = learn.sandbox.course(f"courseId:{TARGET}")
            assert course is not None
            course.data["closedComplete"] = True

    async def scenario() -> LedgerRow:
        rows = [shifted_row(DateShift(days=119))]
        async with rollover_on(learn, rows, ledger, OPTIONS, zone=CHICAGO) as (db, engine):
            learn.transport.after = close_once_patched
            try:
                await engine.run()
            finally:
                learn.transport.after = None
            return db.row(TARGET)

    final = asyncio.run(scenario())
    assert final.state is State.FAILED and final.error_kind is ErrorKind.DATES_REFUSED, final
    assert final.error is not None
    assert "closed" in final.error and "0 of" in final.error and "--retry-failed" in final.error
    assert learn.sandbox.record.date_patches == 0
    # Opened again in Learn, --retry-failed moves only the dates.
    course = learn.sandbox.course(f"courseId:{TARGET}")
    assert course is not None
    course.data["closedComplete"] = False
    with Ledger(ledger, clock=learn.clock.datetime) as db:
        db.sync_manifest([row_spec(shifted_row(DateShift(days=119)))])
        db.retry_failed()
    patches = len(learn.sandbox.record.patches)
    _, final, _ = run(learn, [shifted_row(DateShift(days=119))], ledger)
    assert final.state is State.DONE, final
    assert len(learn.sandbox.record.patches) == patches
    assert_moved_once(learn, 119, CHICAGO)


def test_tight_quota_spreads_the_shift_over_two_runs(tmp_path: Path) -> None:
    """A quota short of every PATCH parks the row in `shifting`, no 429; the next run finishes."""
    learn = make_site(quota_limit=32, quota_refill_per_second=0.0)
    ledger = tmp_path / "l.db"
    options = RunOptions(poll_min=2.0, poll_max=10.0, quota_reserve=20)
    outcome, final, statuses = run(learn, [shifted_row(DateShift(days=119))], ledger, options)
    assert 429 not in statuses
    assert final.state is State.PATCHED and final.stage == "shifting", final
    assert 0 < final.dates_shifted < final.dates_to_shift
    assert outcome.stopped is not None and "shifting stage" in outcome.stopped
    assert TARGET in outcome.parked
    learn.sandbox.bucket.refill_per_second = 1.0  # a night later, the quota refilled
    learn.clock.now += 86_400
    outcome, final, statuses = run(learn, [shifted_row(DateShift(days=119))], ledger, options)
    assert 429 not in statuses
    assert final.state is State.DONE and outcome.stopped is None, (final, outcome)
    assert_moved_once(learn, 119, CHICAGO)


def test_lost_date_answers_move_each_date_once(tmp_path: Path) -> None:
    """A PATCH applied whose answer is lost is sent again with the same values: moved once."""
    learn = make_site(drop_date_responses=[1, 3, 4])
    _, final, _ = run(learn, [shifted_row(DateShift(days=119))], tmp_path / "l.db")
    assert final.state is State.DONE, final
    assert learn.sandbox.record.faults["dropped_date_response"] == 3
    assert_moved_once(learn, 119, CHICAGO)


def test_verify_reads_every_moved_date_back(tmp_path: Path) -> None:
    """--verify reads the dates back and counts every moved item as holding its new dates."""
    learn = make_site()
    options = RunOptions(poll_min=2.0, poll_max=10.0, verify=True)
    _, final, _ = run(learn, [shifted_row(DateShift(days=119))], tmp_path / "l.db", options)
    assert final.state is State.DONE, final
    moved = final.dates_shifted
    assert (
        final.verification is not None and f"dates {moved}/{moved} as moved" in final.verification
    )


def test_every_recorded_item_is_shifted(tmp_path: Path) -> None:
    """The ledger keeps each item's originals and new values, all `shifted`."""
    learn = make_site()
    ledger = tmp_path / "l.db"
    run(learn, [shifted_row(DateShift(days=119))], ledger)
    with Ledger(ledger, clock=learn.clock.datetime) as db:
        items = db.dated_items(TARGET)
    assert items and all(item.state is DateState.SHIFTED for item in items)
    for item in items:
        assert item.new == {
            f: None if d is None else shift_moment(d, 119, CHICAGO)
            for f, d in item.original.items()
        }


def test_an_adopted_copy_moves_its_dates_only_once_proven(tmp_path: Path) -> None:
    """A copy adopted after its answer was lost has its dates moved after the copy ended, once."""
    from harness import engine_run, sections
    from test_adoption import one_slot_site

    learn = one_slot_site(3, copy_seconds=120.0, copy_sigma=0.0)
    rows = sections(2, shift=DateShift(days=119))
    options = RunOptions(poll_min=5.0, poll_max=60.0, adopt_settle=30.0)
    _, final = engine_run(learn, rows, tmp_path / "l.db", options)
    ended = {
        copy.target_course_id: learn.sandbox.queue.tasks[copy.task_id].end
        for copy in learn.sandbox.record.copies
    }
    done = [r for r in final if r.state is State.DONE]
    assert done, final
    for ledger_row in done:
        changes = learn.sandbox.date_changes(f"courseId:{ledger_row.target_course_id}")
        assert changes and all(c.at >= ended[ledger_row.target_course_id] for c in changes)
        assert len({(c.item_id, c.field) for c in changes}) == len(changes)
        assert ledger_row.dates_shifted == ledger_row.dates_to_shift > 0, ledger_row


def test_a_shift_changed_mid_way_keeps_learns_order_rule(tmp_path: Path) -> None:
    """+14d parked mid-way (some due dates moved, the rest untouched), then changed to +7d: the
    moved dates go back and the untouched ones forward, each pair written in an order Learn's
    rule allows (never a 400), every date ending at original + 7 days."""
    learn = make_site(quota_limit=30, quota_refill_per_second=0.0)
    ledger = tmp_path / "l.db"
    options = RunOptions(poll_min=2.0, poll_max=10.0, quota_reserve=20)
    _, parked, statuses = run(learn, [shifted_row(DateShift(days=14))], ledger, options)
    assert parked.stage == "shifting" and 0 < parked.dates_shifted < parked.dates_to_shift
    with Ledger(ledger, clock=learn.clock.datetime) as db:
        moved = {i.kind for i in db.dated_items(TARGET) if i.state is DateState.SHIFTED}
        untouched = {i.kind for i in db.dated_items(TARGET) if i.state is DateState.PENDING}
    assert moved == {"column"} and "column" in untouched  # columns go first, forward
    learn.sandbox.bucket.refill_per_second = 1.0
    learn.clock.now += 86_400
    _, final, statuses = run(learn, [shifted_row(DateShift(days=7))], ledger)
    assert 400 not in statuses
    assert final.state is State.DONE and final.shift_days == 7, final
    before = originals(learn)
    for item in shifted_kinds(learn, TARGET):
        expected = before[(item.kind, item.title)]
        assert {f: _parse(v) for f, v in item.dates.items()} == {
            f: shift_moment(d, 7, CHICAGO) for f, d in expected.items()
        }, item
