"""Dated items: which dates a course's items carry, how seeds lay them out, and Learn's rules
between them (a window's start before its end; a content item's release ending by the due date
of the gradebook column that grades it).

Four kinds of item carry dates, each named as `rollover.plan.ItemKind` names them: `content`
(`availability.adaptiveRelease.start`/`.end`), `column` (`grading.due`), `announcement`
(`availability.duration.start`/`.end`) and `calendar` (a course calendar item's `start`/`end`,
both always set). Dates are Learn's ISO 8601 UTC strings; an empty date is
absent, never an empty string.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from ._replies import LearnRefusal, iso_time, parse_iso

CONTENT, COLUMN, ANNOUNCEMENT, CALENDAR = "content", "column", "announcement", "calendar"
RELEASE_START = "availability.adaptiveRelease.start"
RELEASE_END = "availability.adaptiveRelease.end"
DUE = "grading.due"
SHOWN_START = "availability.duration.start"
SHOWN_END = "availability.duration.end"
CALENDAR_START, CALENDAR_END = "start", "end"
DATE_FIELDS = {
    CONTENT: (RELEASE_START, RELEASE_END),
    COLUMN: (DUE,),
    ANNOUNCEMENT: (SHOWN_START, SHOWN_END),
    CALENDAR: (CALENDAR_START, CALENDAR_END),
}

# A seeded course's dates start on this Monday unless its seed says `dates_from`: a spring term
# whose weeks cross the March change to daylight saving time in America and Europe.
FIRST_SEEDED_DAY = date(2026, 1, 12)
SEEDED_DATED_CONTENTS = (3, 8)
SEEDED_DATED_COLUMNS = (2, 6)
SEEDED_ANNOUNCEMENTS = (2, 5)
SEEDED_CALENDAR_ITEMS = (2, 4)
# Seeded items open at 14:00 UTC (09:00 in New York in winter), announcements an hour earlier;
# calendar items (review sessions) run from 15:00 to 16:00 UTC.
_OPENS, _ANNOUNCED = time(14, tzinfo=UTC), time(13, tzinfo=UTC)
_SESSION_STARTS, _SESSION_ENDS = time(15, tzinfo=UTC), time(16, tzinfo=UTC)

Window = tuple[str | None, str | None]


@dataclass(frozen=True)
class DatedItem:
    """One item of a course that carries at least one date: its kind (`content`, `column`,
    `announcement` or `calendar`), id, title (a column's name), its dates by field (dotted, as
    Learn's JSON nests them; only the dates it has), and for a column the content item it
    grades."""

    kind: str
    item_id: str
    title: str
    dates: dict[str, str]
    content_id: str | None = None


@dataclass(frozen=True)
class DatePlan:
    """The dates a seeded course's items get: a release window per dated content item (in
    content order, folders skipped), a due date per dated column, how many of the first dated
    columns grade the first dated items, one display window per announcement, and one
    (start, end) per course calendar item."""

    releases: tuple[Window, ...] = ()
    dues: tuple[str, ...] = ()
    linked: int = 0
    announcements: tuple[Window, ...] = field(default=())
    calendar: tuple[tuple[str, str], ...] = field(default=())


def seeded_dated_counts(course_id: str) -> tuple[int, int, int, int]:
    """(dated content items, dated columns, announcements, calendar items) of a source course
    seeded without explicit counts; at most as many as the course has items and columns. The
    calendar items are drawn last, so the first three counts are those of earlier sandboxes."""
    rng = random.Random(f"rollover-sandbox:dated:{course_id}")
    return (
        rng.randint(*SEEDED_DATED_CONTENTS),
        rng.randint(*SEEDED_DATED_COLUMNS),
        rng.randint(*SEEDED_ANNOUNCEMENTS),
        rng.randint(*SEEDED_CALENDAR_ITEMS),
    )


def date_plan(
    first_day: date,
    dated_contents: int,
    dated_columns: int,
    announcements: int,
    calendar_items: int = 0,
) -> DatePlan:
    """Weekly dates from `first_day`: item k opens on week k and, when a column grades it (or k
    is even), closes a week later, exactly when that column is due (the tightest order Learn
    allows); column k is due at the end of week k; announcement k shows from week k, for two
    weeks when k is even and with no end otherwise; calendar item k runs from 15:00 to 16:00
    UTC on the first day of week 2k + 1."""

    def week(k: int, at: time) -> str:
        return iso_time(datetime.combine(first_day + timedelta(weeks=k), at).timestamp())

    linked = min(dated_contents, dated_columns)
    releases = tuple(
        (week(k, _OPENS), week(k + 1, _OPENS) if k < linked or k % 2 == 0 else None)
        for k in range(dated_contents)
    )
    dues = tuple(week(k + 1, _OPENS) for k in range(dated_columns))
    shown = tuple(
        (week(k, _ANNOUNCED), week(k + 2, _ANNOUNCED) if k % 2 == 0 else None)
        for k in range(announcements)
    )
    sessions = tuple(
        (week(2 * k + 1, _SESSION_STARTS), week(2 * k + 1, _SESSION_ENDS))
        for k in range(calendar_items)
    )
    return DatePlan(releases, dues, linked, shown, sessions)


def check_window(start: str | None, end: str | None, what: str) -> None:
    """Refuse a window whose start falls after its end, as Learn does."""
    if start is not None and end is not None and parse_iso(start) > parse_iso(end):
        raise LearnRefusal(
            400, f"The {what} start date ({start}) must be before its end date ({end})"
        )


def check_release_by_due(release_end: str | None, due: str | None, content_id: str) -> None:
    """Refuse a content item whose adaptive release ends after the due date of the gradebook
    column that grades it, as Learn does."""
    if release_end is not None and due is not None and parse_iso(release_end) > parse_iso(due):
        raise LearnRefusal(
            400,
            f"The adaptive release end date ({release_end}) of content {content_id} must not be "
            f"after the due date ({due}) of its gradebook column",
        )
