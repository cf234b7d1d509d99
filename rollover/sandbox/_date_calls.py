"""The dated items' endpoints: list announcements, and PATCH a content item, a gradebook column or
an announcement, under Learn's rules between dates; and the record of every date they changed."""

from __future__ import annotations

from typing import Any

from ._catalog import Course
from ._dates import (
    ANNOUNCEMENT,
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
from ._replies import LearnRefusal, Reply, page_of, trim_fields
from ._site import API, SiteCore, require_json
from ._spec import unknown_fields, validate_request_body

CONTENT_PATH = "/learn/api/public/v1/courses/{courseId}/contents/{contentId}"
COLUMN_PATH = "/learn/api/public/v2/courses/{courseId}/gradebook/columns/{columnId}"
ANNOUNCEMENT_PATH = "/learn/api/public/v1/courses/{courseId}/announcements/{announcementId}"

# What each PATCH may change here, as (dotted field, place in the item's row): the dates and the
# title. Other fields the spec lets a client write are refused rather than silently ignored.
_MODELLED = {
    CONTENT: (("title", 2), (RELEASE_START, 4), (RELEASE_END, 5)),
    COLUMN: (("name", 1), (DUE, 3)),
    ANNOUNCEMENT: (("title", 1), (SHOWN_START, 2), (SHOWN_END, 3)),
}


class DateCalls(SiteCore):
    """GET announcements; PATCH a content item, column or announcement (`patch_item`);
    `date_changes` and `dated_items` for tests."""

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
        columns, then announcements."""
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
        return [item for item in items if item.dates]

    def _patch_dated(
        self, kind: str, course_ref: str, item_id: str, body: Any, now: float
    ) -> Reply:
        course = self._course(course_ref)
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


_NOUN = {CONTENT: "content", COLUMN: "gradebook column", ANNOUNCEMENT: "announcement"}
# Each kind's PATCH endpoint, as the record counts its calls, below /learn/api/public.
PATCHED = {
    CONTENT: "/v1/courses/{id}/contents/{id}",
    COLUMN: "/v2/courses/{id}/gradebook/columns/{id}",
    ANNOUNCEMENT: "/v1/courses/{id}/announcements/{id}",
}
_PATHS = {CONTENT: CONTENT_PATH, COLUMN: COLUMN_PATH, ANNOUNCEMENT: ANNOUNCEMENT_PATH}


def _row(holdings: Holdings, kind: str, item_id: str) -> list[Any] | None:
    if kind == CONTENT:
        return holdings.content_row(item_id)
    if kind == COLUMN:
        return holdings.column_row(item_id)
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
    else:
        listed = holdings.course_announcements()
    return trim_fields(next(item for item in listed if item["id"] == item_id), None)
