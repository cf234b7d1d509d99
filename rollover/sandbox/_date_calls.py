"""The dated items' endpoints: list announcements and calendar items, and PATCH a content item, a
gradebook column, an announcement or a course calendar item, under Learn's rules between dates;
and the record of every date they changed and of every calendar list asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ._catalog import Course
from ._dates import (
    ANNOUNCEMENT,
    CALENDAR,
    CALENDAR_END,
    CALENDAR_START,
    COLUMN,
    CONTENT,
    DATE_FIELDS,
    DUE,
    RELEASE_END,
    RELEASE_START,
    SHOWN_END,
    SHOWN_START,
    DatedItem,
    check_release_by_due,
    check_window,
)
from ._holdings import Holdings
from ._merge_calls import GATEWAY_TIMEOUT_PAGE
from ._record import DateChange
from ._replies import LearnRefusal, Reply, page_of, parse_iso, trim_fields
from ._site import API, SiteCore, query_flag, require_json
from ._spec import unknown_fields, validate_request_body

CONTENT_PATH = "/learn/api/public/v1/courses/{courseId}/contents/{contentId}"
COLUMN_PATH = "/learn/api/public/v2/courses/{courseId}/gradebook/columns/{columnId}"
ANNOUNCEMENT_PATH = "/learn/api/public/v1/courses/{courseId}/announcements/{announcementId}"
CALENDAR_PATH = "/learn/api/public/v1/calendars/items/{calendarItemType}/{calendarItemId}"
# The calendar endpoints as the record counts their calls, below /learn/api/public.
CALENDARS_LISTED = "GET /v1/calendars"
CALENDAR_LISTED = "GET /v1/calendars/items"
CALENDAR_PATCHED = "PATCH /v1/calendars/items/{type}/{id}"
# Learn's calendar item types; the sandbox holds items of the first two only.
COURSE_ITEM, COLUMN_ITEM = "Course", "GradebookColumn"
CALENDAR_TYPES = (COURSE_ITEM, COLUMN_ITEM, "Institution", "OfficeHours", "Personal")
# A calendar list without `since` or `until` spans two weeks; no list may span more than 16.
DEFAULT_CALENDAR_SPAN, MAX_CALENDAR_SPAN = timedelta(weeks=2), timedelta(weeks=16)

# What each PATCH may change here, as (dotted field, place in the item's row): the dates and the
# title. Other fields the spec lets a client write are refused rather than silently ignored.
_MODELLED = {
    CONTENT: (("title", 2), (RELEASE_START, 4), (RELEASE_END, 5)),
    COLUMN: (("name", 1), (DUE, 3)),
    ANNOUNCEMENT: (("title", 1), (SHOWN_START, 2), (SHOWN_END, 3)),
    CALENDAR: (("title", 1), (CALENDAR_START, 2), (CALENDAR_END, 3)),
}


class DateCalls(SiteCore):
    """GET announcements and calendar items; PATCH a content item, column or announcement
    (`patch_item`) or a course calendar item (`patch_calendar_item`); `date_changes`,
    `dated_items` and `calendar_log` for tests."""

    def list_announcements(
        self, course_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /v1/courses/{id}/announcements: the course's announcements, paged."""

        def answer(now: float) -> Reply:
            course = self._course(course_ref)
            shown = self.teaching.view(course.primary_id).course_announcements()
            path = f"{API}/v1/courses/{course.primary_id}/announcements"
            return Reply(200, page_of(shown, path, query, query.get("fields")))

        return self._serve("GET /v1/courses/{id}/announcements", authorization, answer)

    def list_calendars(self, query: dict[str, str], authorization: str | None) -> Reply:
        """GET /v1/calendars: the calendars the integration user may view, paged: its own
        (PERSONAL), the institution's, and each course's it holds an available membership of."""

        def answer(now: float) -> Reply:
            shown: list[dict[str, Any]] = [
                {"id": "PERSONAL", "name": "Personal"},
                {"id": "INSTITUTION", "name": "Institution"},
            ]
            shown += [
                {"id": course.primary_id, "name": course.data["name"]}
                for course in self.catalog.courses.values()
                if self._integration_enrolled(course, now)
            ]
            return Reply(200, page_of(shown, f"{API}/v1/calendars", query, query.get("fields")))

        return self._serve(CALENDARS_LISTED, authorization, answer)

    def list_calendar_items(self, query: dict[str, str], authorization: str | None) -> Reply:
        """GET /v1/calendars/items: the calendar items (`type` Course: a course's own,
        GradebookColumn: one per column with a due date; none: both) whose start lies in
        [since, until], of `courseId` or of every course, only of courses the integration user
        is enrolled in (available), paged. A span over 16 weeks is a 400."""

        def answer(now: float) -> Reply:
            self.record.calendar_lists.append(dict(query))
            kinds = _calendar_types(query.get("type"))
            since, until = _calendar_window(query, now + self.config.clock_skew)
            if "courseId" in query:
                courses = [self._course(query["courseId"])]
            else:  # Anthology warns against it; the calendar log shows it happened
                courses = list(self.catalog.courses.values())
            listed: list[dict[str, Any]] = []
            for course in courses:
                if not self._integration_enrolled(course, now):
                    continue
                holdings = self.teaching.view(course.primary_id)
                name = course.data["name"]
                if COURSE_ITEM in kinds:
                    listed += holdings.calendar_items(course.primary_id, name)
                if COLUMN_ITEM in kinds:
                    listed += holdings.column_calendar_items(course.primary_id, name)
            shown = [item for item in listed if since <= parse_iso(item["start"]) <= until]
            path = f"{API}/v1/calendars/items"
            return Reply(200, page_of(shown, path, query, query.get("fields")))

        return self._serve(CALENDAR_LISTED, authorization, answer)

    def patch_calendar_item(
        self,
        item_type: str,
        item_id: str,
        query: dict[str, str],
        body: Any,
        authorization: str | None,
    ) -> Reply:
        """PATCH /v1/calendars/items/{type}/{id} (`updateSeries` accepted): change a course
        calendar item's title, start and end; a GradebookColumn item is the Gradebook API's."""

        def answer(now: float) -> Reply:
            query_flag(query, "updateSeries")
            if item_type not in CALENDAR_TYPES:
                raise LearnRefusal(
                    400,
                    f"Invalid calendarItemType {item_type!r}: expected one of "
                    + ", ".join(CALENDAR_TYPES),
                )
            if item_type == COLUMN_ITEM:
                raise LearnRefusal(
                    400,
                    "GradebookColumns must be updated using the Gradebook API endpoint: "
                    f"PATCH {COLUMN_PATH}",
                )
            found = self.teaching.calendar_course(item_id) if item_type == COURSE_ITEM else None
            if found is None:
                raise LearnRefusal(404, f"Calendar item not found: {item_type}/{item_id}")
            course = self._course(found)
            return self._patch_row(CALENDAR, course, item_id, body, now)

        return self._serve(CALENDAR_PATCHED, authorization, answer)

    def calendar_log(self) -> list[dict[str, str]]:
        """The query of every GET /v1/calendars/items Learn served, in order (a list without
        `courseId` or `type` shows as a query without it)."""
        return [dict(query) for query in self.record.calendar_lists]

    def patch_item(
        self, kind: str, course_ref: str, item_id: str, body: Any, authorization: str | None
    ) -> Reply:
        """PATCH a dated item of `kind` (`content`: /v1/courses/{id}/contents/{id}, `column`:
        /v2/courses/{id}/gradebook/columns/{id}, `announcement`:
        /v1/courses/{id}/announcements/{id}): change the fields sent, its dates too."""
        return self._serve(
            f"PATCH {PATCHED[kind]}",
            authorization,
            lambda now: self._patch_dated(kind, course_ref, item_id, body, now),
        )

    def date_changes(self, course_ref: str) -> list[DateChange]:
        """Every date a PATCH changed on the course (any id form), in the order Learn made them."""
        primary_id = self._known(course_ref).primary_id
        return [c for c in self.record.date_changes if c.course_primary_id == primary_id]

    def dated_items(self, course_ref: str) -> list[DatedItem]:
        """The course's items that carry a date now: content items in outline order, then
        columns, then announcements, then calendar items."""
        self._caught_up()
        holdings = self.teaching.view(self._known(course_ref).primary_id)
        items = [
            DatedItem(CONTENT, row[0], row[2], _dates(CONTENT, row)) for row in holdings.contents
        ]
        items += [
            DatedItem(COLUMN, row[0], row[1], _dates(COLUMN, row), row[4])
            for row in holdings.columns
        ]
        items += [
            DatedItem(ANNOUNCEMENT, row[0], row[1], _dates(ANNOUNCEMENT, row))
            for row in holdings.announcements
        ]
        items += [
            DatedItem(CALENDAR, row[0], row[1], _dates(CALENDAR, row)) for row in holdings.calendar
        ]
        return [item for item in items if item.dates]

    def _integration_enrolled(self, course: Course, now: float) -> bool:
        """Whether the integration user holds an available membership of the course now."""
        user = self.teaching.find_user(f"userName:{self.config.integration_user}")
        if user is None:
            return False
        membership = self.teaching.view(course.primary_id).member_at(user["id"], now)
        return membership is not None and membership.data["availability"]["available"] == "Yes"

    def _patch_dated(
        self, kind: str, course_ref: str, item_id: str, body: Any, now: float
    ) -> Reply:
        return self._patch_row(kind, self._course(course_ref), item_id, body, now)

    def _patch_row(self, kind: str, course: Course, item_id: str, body: Any, now: float) -> Reply:
        holdings = self.teaching.view(course.primary_id)
        row = _row(holdings, kind, item_id)
        if row is None:
            raise LearnRefusal(404, f"{_NOUN[kind].capitalize()} not found: {item_id}")
        require_json(body)
        changes = _changes(kind, body)
        if course.data.get("closedComplete"):
            raise LearnRefusal(
                403, f"Course {course.course_id} is closed (closedComplete): it cannot be updated"
            )
        updated = list(row)
        for name, place in _MODELLED[kind]:
            if name in changes:
                updated[place] = changes[name]
        _check_rules(kind, holdings, updated)
        self.record.date_patches += 1
        for name, place in _MODELLED[kind]:
            if name in DATE_FIELDS[kind] and name in changes and row[place] != updated[place]:
                self.record.date_changes.append(
                    DateChange(
                        kind,
                        course.primary_id,
                        item_id,
                        name,
                        row[place],
                        updated[place],
                        now,
                        self.record.date_patches,
                    )
                )
        row[:] = updated
        if self.record.date_patches in self.config.drop_date_responses:
            self.record.faults["dropped_date_response"] += 1
            return Reply(504, text=GATEWAY_TIMEOUT_PAGE)
        return Reply(200, _shown(kind, holdings, course, item_id))


_NOUN = {
    CONTENT: "content",
    COLUMN: "gradebook column",
    ANNOUNCEMENT: "announcement",
    CALENDAR: "calendar item",
}
# Each kind's PATCH endpoint, as the record counts its calls, below /learn/api/public.
PATCHED = {
    CONTENT: "/v1/courses/{id}/contents/{id}",
    COLUMN: "/v2/courses/{id}/gradebook/columns/{id}",
    ANNOUNCEMENT: "/v1/courses/{id}/announcements/{id}",
}
_PATHS = {
    CONTENT: CONTENT_PATH,
    COLUMN: COLUMN_PATH,
    ANNOUNCEMENT: ANNOUNCEMENT_PATH,
    CALENDAR: CALENDAR_PATH,
}


def _calendar_types(asked: str | None) -> tuple[str, ...]:
    """The calendar item types a list asks for (`type`; absent: all of them)."""
    if asked is None:
        return CALENDAR_TYPES
    if asked not in CALENDAR_TYPES:
        raise LearnRefusal(
            400, f"Invalid value for 'type': {asked!r}; expected one of {', '.join(CALENDAR_TYPES)}"
        )
    return (asked,)


def _calendar_window(query: dict[str, str], site_now: float) -> tuple[datetime, datetime]:
    """A calendar list's [since, until] as Learn reads them: two weeks from now when neither
    is given, two weeks after `since` or before `until` when one is; at most 16 weeks."""
    given_since, given_until = _moment(query, "since"), _moment(query, "until")
    if given_until is not None:
        until = given_until
        since = given_since if given_since is not None else until - DEFAULT_CALENDAR_SPAN
    else:
        since = given_since if given_since is not None else datetime.fromtimestamp(site_now, UTC)
        until = since + DEFAULT_CALENDAR_SPAN
    if until < since:
        raise LearnRefusal(
            400, f"'until' ({query.get('until')}) must not be before 'since' ({query.get('since')})"
        )
    if until - since > MAX_CALENDAR_SPAN:
        raise LearnRefusal(
            400,
            f"The maximum timespan between 'since' ({since.isoformat()}) and 'until' "
            f"({until.isoformat()}) is 16 weeks",
        )
    return since, until


def _moment(query: dict[str, str], name: str) -> datetime | None:
    """The query's ISO 8601 date-time `name` (UTC when it names no offset), if given."""
    raw = query.get(name)
    if raw is None:
        return None
    try:
        moment = parse_iso(raw)
    except ValueError:
        raise LearnRefusal(
            400, f"Invalid value for '{name}': {raw!r}; expected ISO 8601, e.g. 2026-01-12T00:00Z"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _row(holdings: Holdings, kind: str, item_id: str) -> list[Any] | None:
    if kind == CONTENT:
        return holdings.content_row(item_id)
    if kind == COLUMN:
        return holdings.column_row(item_id)
    if kind == CALENDAR:
        return holdings.calendar_row(item_id)
    return holdings.announcement_row(item_id)


def _changes(kind: str, body: Any) -> dict[str, Any]:
    """The body's fields as dotted names, once it passed Learn's checks (a JSON object, no
    unknown or read-only field, the spec's types) and the sandbox's (only fields it keeps)."""
    if not isinstance(body, dict):
        raise LearnRefusal(400, "The request body must be a JSON object")
    path = _PATHS[kind]
    unknown = unknown_fields("patch", path, body)
    if unknown:
        raise LearnRefusal(
            400, f"Field '{unknown[0]}' is read-only or unknown and cannot be updated"
        )
    problems = validate_request_body("patch", path, body)
    if problems:
        raise LearnRefusal(400, "Invalid request body: " + "; ".join(problems))
    sent = _flattened(body)
    kept = {name for name, _ in _MODELLED[kind]}
    for name in sent:
        if name not in kept:
            raise LearnRefusal(
                400, f"Field '{name}' is valid in Learn but the sandbox does not model it"
            )
    return sent


def _flattened(body: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, dict):
            flat.update(_flattened(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_rules(kind: str, holdings: Holdings, row: list[Any]) -> None:
    """Learn's rules between dates, for the item's row as the PATCH would leave it."""
    if kind == CONTENT:
        check_window(row[4], row[5], "adaptive release")
        for column in holdings.columns:
            if column[4] == row[0]:
                check_release_by_due(row[5], column[3], row[0])
    elif kind == COLUMN:
        linked = holdings.content_row(row[4]) if row[4] is not None else None
        if linked is not None:
            check_release_by_due(linked[5], row[3], linked[0])
    elif kind == CALENDAR:
        check_window(row[2], row[3], "calendar item")
    else:
        check_window(row[2], row[3], "announcement display")


def _dates(kind: str, row: list[Any]) -> dict[str, str]:
    return {
        name: row[place]
        for name, place in _MODELLED[kind]
        if name in DATE_FIELDS[kind] and row[place] is not None
    }


def _shown(kind: str, holdings: Holdings, course: Course, item_id: str) -> dict[str, Any]:
    """The item as Learn answers a PATCH: its whole current body."""
    if kind == CONTENT:
        listed = holdings.content_items(None, recursive=True)
    elif kind == COLUMN:
        listed = holdings.gradebook_columns()
    elif kind == CALENDAR:
        listed = holdings.calendar_items(course.primary_id, course.data["name"])
    else:
        listed = holdings.course_announcements()
    return trim_fields(next(item for item in listed if item["id"] == item_id), None)
