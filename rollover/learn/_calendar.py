"""The course calendar's windows (issue 22, `--shift-calendar`): Learn lists calendar items at
most 16 weeks at a time, so a span of dates is read as consecutive windows of 16 weeks.

Learn's `since` and `until` are both inclusive, so an item at a window's edge can be in two
windows: whoever reads them keeps each item once, by its id.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from ._ids import API
from ._transport import Transport

# The longest span one list of calendar items may cover (the official spec: "Maximum timespan
# between since and until is 16 weeks").
CALENDAR_WINDOW = timedelta(weeks=16)
# The calendar items a list is scoped to: a course's own events. GradebookColumn items are the
# gradebook's due dates seen through the calendar (read-only there, moved as columns); Anthology
# warns never to list calendar items without scoping them by course and type.
COURSE_TYPE = "Course"
_CALENDARS_PAGE = 200


def calendar_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end] as consecutive windows of at most 16 weeks, each starting where the one
    before ended; one window when `end` is not after `start`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("calendar windows need aware datetimes: Learn's dates are UTC")
    windows: list[tuple[datetime, datetime]] = []
    since = start
    while True:
        until = min(since + CALENDAR_WINDOW, max(end, start))
        windows.append((since, until))
        if until >= end:
            return windows
        since = until


async def calendar_shown(wire: Transport, course_pk: str) -> bool:
    """Whether Learn shows the caller the course's calendar: `GET /v1/calendars` lists the
    calendars the caller may view (its own, the institution's, each course it is a member
    of), read page by page until the course's is found. The proof that a calendar list answered
    for the course speaks for it: Learn answers a caller who may not see it an empty list."""
    params = {"fields": "id", "limit": str(_CALENDARS_PAGE)}
    url = f"{API}/v1/calendars"
    async with contextlib.aclosing(wire.pages(url, "GET /v1/calendars", params)) as pages:
        async for results, _ in pages:
            if any(item.get("id") == course_pk for item in results):
                return True
    return False
