"""`--shift-calendar` against the sandbox (issue 22): the course calendar's own events move with
the other dates, exactly once, read only by the integration's Learn user once it is enrolled and
seen to be the integration's own, in scoped lists of at most 16 weeks."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from harness import TEACHERS, Learn, make_learn, row
from test_shifting import run as shifting_run

from rollover.engine import RunOptions, RunOutcome
from rollover.ledger import DateState, ErrorKind, Ledger, LedgerRow, State
from rollover.manifest import DateShift, Enrolment, ManifestRow
from rollover.plan import shift_moment
from rollover.preflight import check_learn

SOURCE, TARGET = "BIO-101-FA26", "BIO-101-001-SP27"
CHICAGO = ZoneInfo("America/Chicago")
READER = Enrolment("userName:rollover-integration", "TeachingAssistant")
OPTIONS = RunOptions(poll_min=2.0, poll_max=10.0, calendar_reader=READER)
SIXTEEN_WEEKS = timedelta(weeks=16)


def shifted(days: int = 119, **fields: Any) -> ManifestRow:
    """BIO-101-FA26 into a new course, its dates moved by `days`."""
    return row(
        2, SOURCE, TARGET, name="Biology 101 (Spring 2027)", shift=DateShift(days=days), **fields
    )


def run(
    learn: Learn, rows: list[ManifestRow], ledger: Path, options: RunOptions = OPTIONS
) -> tuple[RunOutcome, LedgerRow, list[int]]:
    """One run in America/Chicago (test_shifting's), with the calendar's reader by default."""
    return shifting_run(learn, rows, ledger, options)


def events(learn: Learn, course: str) -> dict[str, dict[str, datetime]]:
    """A course's calendar events by title, as Learn holds them."""
    return {
        item.title: {f: _parse(v) for f, v in item.dates.items()}
        for item in learn.sandbox.dated_items(f"courseId:{course}")
        if item.kind == "calendar"
    }


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_events_moved_once(learn: Learn, days: int) -> None:
    """Every calendar event of the target moved exactly once, to its original + `days` (local
    time kept in Chicago), both its start and its end."""
    before, now = events(learn, SOURCE), events(learn, TARGET)
    assert before and now.keys() == before.keys()
    for title, dates in before.items():
        assert now[title] == {f: shift_moment(d, days, CHICAGO) for f, d in dates.items()}, title
    changes = Counter(
        (c.item_id, c.field)
        for c in learn.sandbox.date_changes(f"courseId:{TARGET}")
        if c.kind == "calendar"
    )
    assert set(changes.values()) == {1} and len(changes) == 2 * len(before), changes


def assert_scoped(learn: Learn) -> None:
    """Every calendar list named the course and its own events and spanned 16 weeks at most."""
    assert learn.sandbox.calendar_log()
    for query in learn.sandbox.calendar_log():
        assert query.get("type") == "Course" and query.get("courseId"), query
        assert _parse(query["until"]) - _parse(query["since"]) <= SIXTEEN_WEEKS, query


def test_calendar_events_move_once_keeping_local_time_across_dst(tmp_path: Path) -> None:
    """+119d with --shift-calendar moves every calendar event once, start and end, keeping its
    Chicago time of day across the March change; the other dates move as before; every list
    is scoped and windowed; the reader was enrolled as asked and the span is recorded."""
    learn = make_learn()
    outcome, final, statuses = run(learn, [shifted()], tmp_path / "l.db")
    assert outcome.stopped is None and final.state is State.DONE, final
    assert 400 not in statuses
    assert_events_moved_once(learn, 119)
    assert_scoped(learn)
    assert final.calendar_span is not None
    with Ledger(tmp_path / "l.db") as ledger:
        items = ledger.dated_items(TARGET)
        assert "calendar" in {i.kind for i in items} and len({i.kind for i in items}) > 1
        assert all(i.state is DateState.SHIFTED for i in items)
        assert [(e.user_id, e.role) for e in ledger.enrolments(TARGET)] == [
            (READER.user_id, READER.role)
        ]
    moved = {(c.kind, c.item_id) for c in learn.sandbox.date_changes(f"courseId:{TARGET}")}
    assert final.dates_shifted == final.dates_to_shift == len(moved)


def test_without_the_option_the_calendar_is_left_alone(tmp_path: Path) -> None:
    """Without --shift-calendar no calendar list is sent and no event moves; nobody is enrolled."""
    learn = make_learn()
    _, final, _ = run(learn, [shifted()], tmp_path / "l.db", replace(OPTIONS, calendar_reader=None))
    assert final.state is State.DONE and final.calendar_span is None
    assert learn.sandbox.calendar_log() == []
    assert events(learn, TARGET) == events(learn, SOURCE)


def test_a_reader_that_is_not_the_integrations_user_is_never_trusted(tmp_path: Path) -> None:
    """--learn-user naming someone else (jane, enrolled as asked): Learn shows the integration
    no calendar, so no event list is read, none moves, and the row fails after its other dates
    moved, naming --learn-user and the fix, never taking the empty answer for no events."""
    learn = make_learn(users=TEACHERS)
    options = replace(OPTIONS, calendar_reader=Enrolment("userName:jane.doe", "TeachingAssistant"))
    _, final, _ = run(learn, [shifted()], tmp_path / "l.db", options)
    assert final.state is State.FAILED and final.error_kind is ErrorKind.DATES_REFUSED, final
    assert "--learn-user must name the Learn user the integration acts as" in (final.error or "")
    assert learn.sandbox.calendar_log() == []
    assert events(learn, TARGET) == events(learn, SOURCE)
    assert final.dates_shifted == final.dates_to_shift > 0  # the other dates all moved


def test_a_reader_learn_does_not_know_fails_the_calendar_not_the_rest(tmp_path: Path) -> None:
    """A --learn-user Learn does not know cannot be enrolled: its membership is looked up (404),
    the calendar is not read, and the row fails naming the user and what to do; the rest of
    its dates moved. Run again with the right --learn-user, only the calendar moves."""
    learn = make_learn()
    ledger = tmp_path / "l.db"
    ghost = replace(OPTIONS, calendar_reader=Enrolment("userName:nobody", "TeachingAssistant"))
    _, final, _ = run(learn, [shifted()], ledger, ghost)
    assert final.state is State.FAILED, final
    assert "userName:nobody (--learn-user) is not enrolled" in (final.error or "")
    assert learn.sandbox.calendar_log() == []
    other = Counter(c.item_id for c in learn.sandbox.date_changes(f"courseId:{TARGET}"))
    assert other and final.dates_shifted == final.dates_to_shift
    _, fixed, _ = run(learn, [shifted()], ledger)  # --learn-user corrected: the calendar moves
    assert fixed.state is State.DONE, fixed
    assert_events_moved_once(learn, 119)
    changes = Counter(
        (c.kind, c.item_id, c.field) for c in learn.sandbox.date_changes(f"courseId:{TARGET}")
    )
    assert set(changes.values()) == {1}, changes  # nothing else moved twice


def test_asking_for_the_calendar_later_moves_only_the_calendar(tmp_path: Path) -> None:
    """A row finished without the calendar, run again with --shift-calendar: only its calendar is
    listed and moved, every other date still moved exactly once."""
    learn = make_learn()
    ledger = tmp_path / "l.db"
    run(learn, [shifted()], ledger, replace(OPTIONS, calendar_reader=None))
    _, final, _ = run(learn, [shifted()], ledger)
    assert final.state is State.DONE, final
    assert_events_moved_once(learn, 119)
    changes = Counter(
        (c.item_id, c.field) for c in learn.sandbox.date_changes(f"courseId:{TARGET}")
    )
    assert set(changes.values()) == {1}, changes


def test_lost_calendar_answers_move_each_event_once(tmp_path: Path) -> None:
    """Calendar PATCHes applied whose answers are lost are sent again with the same values."""
    dry = make_learn()
    run(dry, [shifted()], tmp_path / "dry.db")
    total = dry.sandbox.record.date_patches
    learn = make_learn(drop_date_responses=[total - 1, total])  # the calendar's come last
    _, final, _ = run(learn, [shifted()], tmp_path / "l.db")
    assert final.state is State.DONE, final
    assert learn.sandbox.record.faults["dropped_date_response"] == 2
    assert_events_moved_once(learn, 119)


def test_verify_reads_the_calendar_back_where_it_was_moved(tmp_path: Path) -> None:
    """--verify lists the calendar again around the moved events and counts each as held."""
    learn = make_learn()
    _, final, _ = run(learn, [shifted()], tmp_path / "l.db", replace(OPTIONS, verify=True))
    assert final.state is State.DONE, final
    moved = final.dates_shifted
    assert final.verification and f"dates {moved}/{moved} as moved" in final.verification
    assert_scoped(learn)


def test_a_backward_shift_moves_the_calendar_too(tmp_path: Path) -> None:
    """-35d moves the calendar's events back, once each, and Learn refuses nothing."""
    learn = make_learn()
    _, final, statuses = run(learn, [shifted(-35)], tmp_path / "l.db")
    assert final.state is State.DONE and 400 not in statuses, final
    assert_events_moved_once(learn, -35)


def test_the_preflight_names_a_learn_user_learn_does_not_know(tmp_path: Path) -> None:
    """validate --check-learn with --shift-calendar looks the --learn-user up once: unknown, it
    is a problem on the first shifted row naming the option and the fix; known, none."""

    async def check(reader: Enrolment) -> list[tuple[int, str, str, str]]:
        async with learn.client() as client:
            report = await check_learn([shifted()], [], client, calendar_reader=reader)
        return [(p.line, p.column, p.value, p.message) for p in report.problems]

    learn = make_learn()
    found = asyncio.run(check(Enrolment("userName:nobody", "TeachingAssistant")))
    assert [(line, column, value) for line, column, value, _ in found] == [
        (2, "shift_dates", "userName:nobody")
    ]
    assert "--learn-user names a user Learn does not know" in found[0][3]
    assert asyncio.run(check(READER)) == []
