"""The rules of `--shift-calendar` that need no Learn (issue 22): the 16-week windows a course's
calendar is read in, the span they cover, which kinds a shift moves, who reads the calendar
(`--learn-user`, enrolled in each shifted course), how the ledger keeps the ask, and what asking
for it (or no longer) does to a finished row."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from cli_runs import invoke, sandbox_run, write
from harness import row

from rollover.config import load_config
from rollover.errors import ConfigInvalid
from rollover.learn import CALENDAR_WINDOW, COURSE_KINDS, DatedKind, calendar_windows
from rollover.ledger import DateState, Ledger, State, calls_left
from rollover.manifest import DateShift, Enrolment, parse_learn_user
from rollover.plan import calendar_span, row_spec, shift_kinds, shift_lists

READER = Enrolment("userName:rest-app", "TeachingAssistant")
JAN = datetime(2026, 1, 12, 15, tzinfo=UTC)


def test_a_span_is_read_in_consecutive_windows_of_at_most_16_weeks() -> None:
    """A 40-week span is three windows, each at most 16 weeks, each starting where the last
    ended, the first at the span's start and the last at its end (no gap, no overreach)."""
    end = JAN + timedelta(weeks=40)
    windows = calendar_windows(JAN, end)
    assert len(windows) == 3
    assert windows[0][0] == JAN and windows[-1][1] == end
    for (_, until), (since, _) in pairwise(windows):
        assert since == until
    assert all(until - since <= CALENDAR_WINDOW for since, until in windows)


def test_a_short_span_is_one_window_and_a_naive_time_is_refused() -> None:
    """A span within 16 weeks (or empty) is one list; a time without a zone is a bug."""
    assert calendar_windows(JAN, JAN + timedelta(weeks=16)) == [(JAN, JAN + CALENDAR_WINDOW)]
    assert calendar_windows(JAN, JAN) == [(JAN, JAN)]
    with pytest.raises(ValueError, match="aware"):
        calendar_windows(JAN.replace(tzinfo=None), JAN)


def test_the_calendar_span_runs_four_weeks_around_the_known_dates() -> None:
    """The span reaches four weeks before the earliest known date and after the latest; with
    none known, it is the year before the run (with the same margins)."""
    late = JAN + timedelta(weeks=15)
    assert calendar_span([late, JAN], JAN) == (JAN - timedelta(weeks=4), late + timedelta(weeks=4))
    now = datetime(2026, 12, 6, tzinfo=UTC)
    since, until = calendar_span([], now)
    assert (since, until) == (now - timedelta(weeks=56), now + timedelta(weeks=4))


def test_a_shift_moves_learns_three_kinds_and_the_calendar_only_when_asked() -> None:
    """Without --shift-calendar a shift lists the three kinds under the course (one call each);
    with it, the calendar too (two 16-week windows at the floor)."""
    assert shift_kinds(DateShift(days=7)) == COURSE_KINDS
    assert DatedKind.CALENDAR not in COURSE_KINDS
    assert shift_kinds(DateShift(term=True, calendar=True))[-1] is DatedKind.CALENDAR
    assert (shift_lists(DateShift(days=7)), shift_lists(DateShift(days=7, calendar=True))) == (3, 5)
    assert shift_lists(None) == 0


def test_the_learn_user_is_written_as_an_instructors_entry() -> None:
    """`--learn-user` takes one user as the instructors cell writes one (role optional, in
    Learn's spelling); two users, or none, are refused naming the fix."""
    assert parse_learn_user("userName:rest-app=teachingassistant") == READER
    assert parse_learn_user("userName:rest-app") == Enrolment("userName:rest-app", "Instructor")
    with pytest.raises(ValueError, match="more than one user"):
        parse_learn_user("userName:a;userName:b")
    with pytest.raises(ValueError, match="userName:ID"):
        parse_learn_user("rest-app")


def test_asking_for_the_calendar_enrols_the_reader_in_every_shifted_row() -> None:
    """With a reader, each row that shifts asks for its calendar and enrols the reader (after
    the row's own instructors, unless the cell already names that user, in any case); a row
    without a shift is left as it is."""
    shifted = row(2, "A", "B", shift=DateShift(days=119))
    spec = row_spec(shifted, calendar_reader=READER)
    assert spec.shift == DateShift(days=119, calendar=True)
    assert spec.instructors == (READER,)
    named = row(
        3,
        "C",
        "D",
        shift=DateShift(days=7),
        instructors=(Enrolment("USERNAME:REST-APP", "Grader"),),
    )
    assert row_spec(named, calendar_reader=READER).instructors == named.instructors
    by_default = row_spec(row(4, "E", "F"), shift_dates=DateShift(days=7), calendar_reader=READER)
    assert by_default.shift == DateShift(days=7, calendar=True)
    unshifted = row(5, "G", "H")
    assert row_spec(unshifted, calendar_reader=READER) == row_spec(unshifted)


def test_the_ledger_keeps_the_calendar_ask_and_older_specs_unchanged(tmp_path: Path) -> None:
    """A spec asking for the calendar reads back as it was written; one that does not is stored
    exactly as before the calendar existed ({"days": n})."""
    with Ledger(tmp_path / "l.db") as ledger:
        ledger.sync_manifest(
            [
                row_spec(row(2, "A", "B", shift=DateShift(days=119)), calendar_reader=READER),
                row_spec(row(3, "C", "D", shift=DateShift(term=True, calendar=False))),
            ]
        )
        assert ledger.row("B").spec.shift == DateShift(days=119, calendar=True)
        assert ledger.row("D").spec.shift == DateShift(term=True)
    with sqlite3.connect(tmp_path / "l.db") as db:
        specs = dict(db.execute("SELECT target_course_id, spec FROM rows"))
    assert json.loads(specs["B"])["shift"] == {"days": 119, "calendar": True}
    assert json.loads(specs["D"])["shift"] == {"term": True}


def test_asking_for_the_calendar_later_moves_only_it(tmp_path: Path) -> None:
    """A finished row asked for its calendar is taken up at `patched` (its offset kept, its
    moved dates not moved again); no longer asking moves no date (the reader's enrolment
    leaving the instructors takes it up at `patched` with nothing left to do, as any change of
    instructors does)."""
    plain = row_spec(row(2, "A", "B", shift=DateShift(days=119)))
    with Ledger(tmp_path / "l.db") as ledger:
        ledger.sync_manifest([plain])
        copied_and_listed(ledger, "B")
        ledger.record_done("B")
        calendar = row_spec(row(2, "A", "B", shift=DateShift(days=119)), calendar_reader=READER)
        ledger.sync_manifest([calendar])
        again = ledger.row("B")
        assert again.state is State.PATCHED and again.shift_days == 119
        assert again.dates_left and again.stage == "shifting"
        ledger.record_dated_items("B", DatedKind.CALENDAR, [], span=(JAN, JAN + CALENDAR_WINDOW))
        assert not ledger.row("B").dates_left
        assert ledger.row("B").calendar_span == (JAN, JAN + CALENDAR_WINDOW)
        ledger.record_done("B")
        ledger.sync_manifest([plain])
        dropped = ledger.row("B")
        assert dropped.shift_days == 119 and not dropped.dates_left
        assert dropped.calendar_span == (JAN, JAN + CALENDAR_WINDOW)


def copied_and_listed(ledger: Ledger, target: str) -> None:
    """Take a row through its copy and PATCH, its offset (+119d) recorded and Learn's three
    kinds listed, with nothing dated in them."""
    ledger.record_intent(target)
    ledger.record_location(target, "/learn/api/public/v1/courses/_1_1/tasks/_9_1")
    ledger.record_copied(target, "_7_1")
    ledger.record_patched(target)
    ledger.record_shift_offset(target, 119)
    for kind in COURSE_KINDS:
        ledger.record_dated_items(target, kind, [])


def test_shift_calendar_without_a_learn_user_is_refused_before_anything(tmp_path: Path) -> None:
    """`--shift-calendar` alone exits 2 naming --learn-user and an example; nothing is read."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id,shift_dates\nBIO-101-FA26,BIO-101-SP27,+119d\n",
    )
    result = invoke("validate", manifest, "--shift-calendar")
    assert result.exit_code == 2, result.output
    assert "--shift-calendar needs --learn-user" in result.output
    assert "userName:rest-app=TeachingAssistant" in result.output
    bad = invoke("validate", manifest, "--shift-calendar", "--learn-user", "rest-app")
    assert bad.exit_code == 2 and "userName:ID" in bad.output, bad.output


def test_the_config_file_takes_shift_calendar_and_learn_user(tmp_path: Path) -> None:
    """rollover.toml's shift_calendar and learn_user stand for the options; a learn_user that
    is not one user is named with its line and fix."""
    config = load_config(
        write(
            tmp_path / "a.toml",
            'shift_calendar = true\nlearn_user = "userName:rest-app=TeachingAssistant"\n',
        )
    )
    assert config.option_defaults()["shift_calendar"] is True
    assert config.option_defaults()["learn_user"] == READER
    with pytest.raises(ConfigInvalid) as refused:
        load_config(write(tmp_path / "b.toml", 'learn_user = "userName:a;userName:b"\n'))
    assert "learn_user" in str(refused.value.problems) and "more than one user" in str(
        refused.value.problems
    )


def test_a_learn_user_without_shift_calendar_is_noted_not_used(tmp_path: Path) -> None:
    """--learn-user alone says it is used only with --shift-calendar (the plan enrols nobody);
    from rollover.toml it is silent, ready for the nights that ask for the calendar."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id,shift_dates\nBIO-101-FA26,BIO-101-SP27,+119d\n",
    )
    noted = invoke("validate", manifest, "--learn-user", "userName:rest-app")
    assert noted.exit_code == 0, noted.output
    assert "Note: --learn-user is used only with --shift-calendar" in noted.output
    assert "instructors to enrol" not in noted.output  # nobody to enrol
    write(tmp_path / "rollover.toml", 'learn_user = "userName:rest-app"\n')
    quiet = invoke("validate", manifest)
    assert quiet.exit_code == 0 and "Note: --learn-user" not in quiet.output, quiet.output


def test_a_rehearsal_of_shift_dates_term_for_every_row_runs(tmp_path: Path) -> None:
    """`run --sandbox --shift-dates term` (blank cells, each row with a start_date) seeds each
    source with a start, as a cell's `term` does, so every row moves by whole weeks and ends
    done, its calendar too with --shift-calendar."""
    manifest = write(
        tmp_path / "m.csv",
        "source_course_id,target_course_id,start_date,end_date\n"
        "BIO-101-FA26,BIO-101-SP27,2027-01-11,2027-05-07\n",
    )
    result = sandbox_run(
        tmp_path,
        manifest,
        "--timezone",
        "America/Chicago",
        "--shift-dates",
        "term",
        "--shift-calendar",
        "--learn-user",
        "userName:rest-app=TeachingAssistant",
    )
    assert result.exit_code == 0, result.output
    with Ledger(tmp_path / "m.sandbox.ledger.sqlite") as ledger:
        done = ledger.row("BIO-101-SP27")
    assert done.state is State.DONE and done.shift_days == 364, done
    assert "calendar" in done.dates_listed and done.dates_shifted == done.dates_to_shift > 0
    # status --row says which span of the calendar was read, in words and in JSON (UTC).
    shown = invoke("status", manifest, "--sandbox", "--row", "2", "--timezone", "UTC")
    assert shown.exit_code == 0 and "calendar read from " in shown.output, shown.output
    assert 'calendar "Review session 1"' in shown.output
    as_json = invoke("status", manifest, "--sandbox", "--row", "2", "--json")
    read = json.loads(as_json.output)["dates"]["calendar_read"]
    assert done.calendar_span is not None
    assert read == {
        "since": done.calendar_span[0].isoformat().replace("+00:00", "Z"),
        "until": done.calendar_span[1].isoformat().replace("+00:00", "Z"),
    }


def test_what_is_left_counts_moving_back_and_only_the_lists_asked(tmp_path: Path) -> None:
    """A finished row's shift taken out costs one PATCH per moved date to move it back; a row
    whose calendar was listed and is no longer asked owes nothing for the calendar's lists."""
    shifted = row_spec(row(2, "A", "B", shift=DateShift(days=119)), calendar_reader=READER)
    with Ledger(tmp_path / "l.db") as ledger:
        ledger.sync_manifest([shifted])
        copied_and_listed(ledger, "B")
        ledger.record_dated_items(
            "B", DatedKind.CALENDAR, [("_5_1", "start", JAN), ("_5_1", "end", JAN)], span=(JAN, JAN)
        )
        # Listed, not yet moved: the reader's enrolment and the one PATCH are left, no list.
        known = ledger.row("B")
        assert calls_left(shifted, known, known.state, verify=False) == 1 + 1
        ledger.record_date(
            "B", "calendar", "_5_1", DateState.SHIFTED, new={"start": JAN, "end": JAN}
        )
        ledger.record_done("B")
        plain = row_spec(row(2, "A", "B", shift=DateShift(days=119)))
        ledger.sync_manifest([plain])  # the calendar no longer asked: its lists owe nothing
        known = ledger.row("B")
        assert calls_left(plain, known, known.state, verify=False) == 0
        unshifted = row_spec(row(2, "A", "B"))
        ledger.sync_manifest([unshifted])  # the shift taken out: the event moves back
        known = ledger.row("B")
        assert known.dates_left
        assert calls_left(unshifted, known, known.state, verify=False) == 1
