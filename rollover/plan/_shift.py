"""How a row's dated items move with the term (issue 22): the one rule of a shifted moment.

`DateShift` (what a row asks, from its `shift_dates` cell or rollover.toml's key) is the
manifest's and what moves (`DatedKind`) is Learn's; here are how far a `term` shift goes
(`term_offset`), where one moment lands (`shift_moment`), and what a source holds to move
(`DatedCounts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rollover.errors import Problem
from rollover.learn import COURSE_KINDS, DatedKind, list_calls
from rollover.manifest import DateShift, ManifestRow

__all__ = [
    "DateShift",
    "DatedCounts",
    "calendar_span",
    "shift_kinds",
    "shift_lists",
    "shift_moment",
    "term_offset",
    "term_without_start",
]

_WEEK = 7
# How far before the earliest and after the latest known date of a course its calendar is read:
# a course's events (a first-week welcome, a final exam) sit near its other dates, not on them.
CALENDAR_MARGIN = timedelta(weeks=4)
# With no date known at all, the calendar is read over the year before the run: a course rolled
# over from last term has held its dates in it.
CALENDAR_FALLBACK = timedelta(weeks=52)


def shift_kinds(shift: DateShift | None) -> tuple[DatedKind, ...]:
    """The kinds of dated item a shift lists and moves, in the order they are listed: Learn's
    three under the course, then the calendar's events when the shift asks for them. None (no
    shift): none to list (items recorded before move back)."""
    if shift is None:
        return ()
    return (*COURSE_KINDS, DatedKind.CALENDAR) if shift.calendar else COURSE_KINDS


def shift_lists(shift: DateShift | None) -> int:
    """The calls a shift's lists cost at their floor (`learn.list_calls` of each kind)."""
    return sum(list_calls(kind) for kind in shift_kinds(shift))


def calendar_span(known: Iterable[datetime], now: datetime) -> tuple[datetime, datetime]:
    """The span a course's calendar is read over: from the earliest to the latest of the
    `known` dates (its other items' originals, its term as the manifest and the offset place
    it), widened by four weeks each side; with none known, the year before `now`."""
    dates = sorted(known)
    if not dates:
        return now - CALENDAR_FALLBACK - CALENDAR_MARGIN, now + CALENDAR_MARGIN
    return dates[0] - CALENDAR_MARGIN, dates[-1] + CALENDAR_MARGIN


@dataclass(frozen=True)
class DatedCounts:
    """How many items of each kind hold a date to move, as read from a course's lists."""

    content: int = 0
    column: int = 0
    announcement: int = 0

    @property
    def total(self) -> int:
        """The dated items of every kind: one PATCH each."""
        return self.content + self.column + self.announcement

    def of(self, kind: DatedKind) -> int:
        """The dated items of one kind."""
        count: int = getattr(self, kind.value)
        return count


def shift_moment(moment: datetime, days: int, zone: ZoneInfo) -> datetime:
    """`moment` moved by `days` wall-clock days in `zone`, in UTC: its local date moves, its
    local time of day stays (09:00 stays 09:00 across a daylight-saving change).

    Where the moved local time does not exist (the hour the clocks skip), it lands as far past
    the gap's start as it was meant to be (02:30 on a spring-forward night becomes 03:30, the
    clocks' own reading of it); where it happens twice (the hour repeated in the autumn), the
    first of the two (fold=0). A shift of 0 days leaves the moment as it is. A naive `moment` is
    refused (ValueError): Learn's dates are UTC.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"shift_moment needs an aware datetime, got {moment.isoformat()}")
    if days == 0:  # a `term` offset may be 0: the moment stays, a repeated hour's second too
        return moment.astimezone(UTC)
    local = moment.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    # fold=0 reads a skipped time with the offset before the change, which moves it forward by
    # the gap, and a repeated time as its first occurrence.
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def term_offset(source_start: datetime, new_start: datetime, zone: ZoneInfo) -> int:
    """The days a `term` shift moves dates: from the source's start to the row's new
    start_date, counted in local dates in `zone` and rounded to the nearest whole week, so every
    date keeps its weekday (a week is odd in days, so the nearest is never a tie)."""
    days = (new_start.astimezone(zone).date() - source_start.astimezone(zone).date()).days
    weeks, rest = divmod(days, _WEEK)
    return (weeks + (rest > _WEEK // 2)) * _WEEK


def term_without_start(rows: Iterable[ManifestRow], shift_dates: DateShift | None) -> list[Problem]:
    """One Problem per row a `term` given for every row (`shift_dates`, from rollover.toml or
    the command line) would move but cannot: its own cell is blank and so is its start_date.
    (A `term` cell without a start_date is the manifest's own check.)"""
    if shift_dates is None or not shift_dates.term:
        return []
    return [
        Problem(
            row.line,
            "start_date",
            "",
            "shift_dates term (given for every row whose shift_dates cell is blank) moves "
            "dates from the source's start to this row's start_date, which is blank: fill in "
            "start_date and end_date, or write a shift like +119d in this row's shift_dates cell",
        )
        for row in rows
        if row.shift is None and row.start_date is None
    ]
