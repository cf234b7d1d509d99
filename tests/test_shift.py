"""Where a shifted date lands (`rollover.plan.shift_moment`) and how far a `term` shift goes
(`term_offset`): wall-clock days in the run's zone, across the US daylight-saving changes of 2027
(2027-03-14 and 2027-11-07 in America/Chicago)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from harness import row
from hypothesis import given
from hypothesis import strategies as st

from rollover.learn import COURSE_KINDS, DatedKind
from rollover.plan import (
    DatedCounts,
    DateShift,
    shift_kinds,
    shift_moment,
    term_offset,
    term_without_start,
)

CHICAGO = ZoneInfo("America/Chicago")


def utc(text: str) -> datetime:
    """An ISO 8601 UTC moment, as Learn writes its dates."""
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("moment", "days", "moved"),
    [
        # 09:00 CST a week before spring forward lands on 09:00 CDT: 15:00Z becomes 14:00Z.
        ("2027-03-08T15:00:00Z", 7, "2027-03-15T14:00:00Z"),
        # And back again: 09:00 CDT to 09:00 CST.
        ("2027-03-15T14:00:00Z", -7, "2027-03-08T15:00:00Z"),
        # 09:00 CDT a week before fall back lands on 09:00 CST: 14:00Z becomes 15:00Z.
        ("2027-11-01T14:00:00Z", 7, "2027-11-08T15:00:00Z"),
        # 23:59:59 CDT on 2027-08-31 (an end of day, already 09-01 in UTC) 17 weeks later is
        # 23:59:59 CST on 2027-12-28: counted in local days, not UTC ones.
        ("2027-09-01T04:59:59Z", 119, "2027-12-29T05:59:59Z"),
        # Both changes crossed (a whole year): 09:00 CST stays 09:00 CST.
        ("2027-01-11T15:00:00Z", 364, "2028-01-10T15:00:00Z"),
    ],
)
def test_a_shift_keeps_the_local_time_of_day_across_daylight_saving(
    moment: str, days: int, moved: str
) -> None:
    """N wall-clock days in the zone: 09:00 stays 09:00 when the clocks change in between."""
    assert shift_moment(utc(moment), days, CHICAGO) == utc(moved)


def test_a_local_time_the_clocks_skip_moves_forward_by_the_gap() -> None:
    """02:30 CST moved onto 2027-03-14 (02:00-03:00 does not exist) lands at 03:30 CDT."""
    moved = shift_moment(utc("2027-03-07T08:30:00Z"), 7, CHICAGO)
    assert moved == utc("2027-03-14T08:30:00Z")
    assert moved.astimezone(CHICAGO).strftime("%H:%M %Z") == "03:30 CDT"


def test_a_local_time_the_clocks_repeat_is_its_first_occurrence() -> None:
    """01:30 moved onto 2027-11-07 (01:00-02:00 happens twice) is the first one, CDT (fold=0)."""
    before = shift_moment(utc("2027-10-31T06:30:00Z"), 7, CHICAGO)  # 01:30 CDT
    after = shift_moment(utc("2027-11-14T07:30:00Z"), -7, CHICAGO)  # 01:30 CST
    assert before == after == utc("2027-11-07T06:30:00Z")
    assert before.astimezone(CHICAGO).strftime("%H:%M %Z") == "01:30 CDT"


def test_a_shift_of_zero_days_leaves_even_a_repeated_hour_as_it_is() -> None:
    """0 days (a term offset may be 0) returns the same instant, the repeated hour's second too."""
    second = utc("2027-11-07T07:30:00Z")  # 01:30 CST, after the clocks fell back
    assert shift_moment(second, 0, CHICAGO) == second


def test_a_shifted_moment_is_in_utc_and_a_naive_one_is_refused() -> None:
    """The result is aware UTC whatever zone the input carries; a naive input is a ValueError."""
    moved = shift_moment(datetime(2027, 1, 11, 9, tzinfo=CHICAGO), 1, CHICAGO)
    assert moved.tzinfo is UTC and moved == utc("2027-01-12T15:00:00Z")
    with pytest.raises(ValueError, match="aware"):
        shift_moment(datetime(2027, 1, 11, 9), 1, CHICAGO)


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    st.integers(min_value=-1096, max_value=1096),
)
def test_a_shift_moves_the_local_date_and_keeps_the_clock_reading(
    moment: datetime, days: int
) -> None:
    """Any moment, any shift: the local date moves by `days`; the local time stays, unless it
    falls in the skipped hour, where it reads one hour later."""
    local = moment.astimezone(CHICAGO)
    moved = shift_moment(moment, days, CHICAGO).astimezone(CHICAGO)
    wanted = local.replace(tzinfo=None) + timedelta(days=days)
    reading = moved.replace(tzinfo=None)
    assert reading in (wanted, wanted + timedelta(hours=1))
    if reading != wanted:  # only a time the clocks skip: it does not exist in the zone
        assert (
            wanted.replace(tzinfo=CHICAGO).astimezone(UTC).astimezone(CHICAGO).replace(tzinfo=None)
            != wanted
        )


@pytest.mark.parametrize(
    ("new_start", "offset"),
    [
        ("2027-01-11T06:00:00Z", 140),  # Monday to Monday: 20 weeks exactly
        ("2027-01-13T06:00:00Z", 140),  # two days later: rounded down to 20 weeks
        ("2027-01-15T06:00:00Z", 147),  # four days later: rounded up to 21 weeks
        ("2026-08-20T05:00:00Z", -7),  # Thursday before: -4 days, the nearer week is -7
        ("2026-08-22T05:00:00Z", 0),  # Saturday before: -2 days, no week at all
    ],
)
def test_a_term_offset_is_the_nearest_whole_number_of_weeks(new_start: str, offset: int) -> None:
    """From the source's start to the new start_date, rounded to the nearest week."""
    source_start = utc("2026-08-24T05:00:00Z")  # Monday 2026-08-24 00:00 CDT
    assert term_offset(source_start, utc(new_start), CHICAGO) == offset


def test_a_term_offset_counts_local_dates_not_utc_ones() -> None:
    """Sunday 22:00 CDT (Monday in UTC) to Thursday: 144 local days (21 weeks), not 143 (20)."""
    source_start = utc("2026-08-24T03:00:00Z")  # Sunday 2026-08-23 22:00 CDT
    new_start = utc("2027-01-14T06:00:00Z")  # Thursday 2027-01-14 00:00 CST
    assert term_offset(source_start, new_start, CHICAGO) == 147
    assert term_offset(source_start, new_start, ZoneInfo("UTC")) == 140


def test_the_kinds_of_dated_items_and_their_counts() -> None:
    """Four kinds, named as the ledger and the views write them, the calendar's last and only
    when asked; a source's counts (Learn's three) total and per kind."""
    assert [kind.value for kind in DatedKind] == ["content", "column", "announcement", "calendar"]
    assert shift_kinds(DateShift(days=7)) == COURSE_KINDS == tuple(DatedKind)[:3]
    assert shift_kinds(DateShift(days=7, calendar=True)) == tuple(DatedKind)
    assert shift_kinds(None) == ()
    counts = DatedCounts(content=40, column=25, announcement=10)
    assert counts.total == 75
    assert [counts.of(kind) for kind in COURSE_KINDS] == [40, 25, 10]


def test_a_term_for_every_row_names_the_rows_without_a_start_date() -> None:
    """shift_dates = "term" for every row cannot move a row with no start_date and no cell of
    its own: each such row is one problem on its line; other shifts name none."""
    rows = [
        row(2, "A", "B"),
        row(3, "C", "D", start_date=datetime(2027, 1, 11, tzinfo=UTC)),
        row(4, "E", "F", shift=DateShift(days=7)),
    ]
    (problem,) = term_without_start(rows, DateShift(term=True))
    assert (problem.line, problem.column, problem.value) == (2, "start_date", "")
    assert "fill in start_date and end_date" in problem.message
    assert term_without_start(rows, DateShift(days=7)) == []
    assert term_without_start(rows, None) == []
