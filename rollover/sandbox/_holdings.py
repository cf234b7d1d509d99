"""What one course holds besides its settings, as compact rows (a site may hold ten thousand
courses) shown in Learn's shapes only when asked for: content items, gradebook columns,
announcements, course calendar items (each with its dates) and enrolments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# [id, parentId or None, title, contentHandler.id, adaptiveRelease start, end], parents first
ContentRow = list[Any]
ColumnRow = list[Any]  # [id, name, score.possible, grading.due, contentId]
AnnouncementRow = list[Any]  # [id, title, availability.duration start, end]
CalendarRow = list[Any]  # [id, title, start, end]: a course calendar item, both dates set
# A state saved before items had dates holds shorter rows; they are padded with None (no date).
CONTENT_ROW_LENGTH, COLUMN_ROW_LENGTH = 6, 5


@dataclass
class Membership:
    """One enrolment as Learn shows it, and when (if ever) the copy into its course drops it."""

    data: dict[str, Any]
    lost_at: float | None = None

    def exists_at(self, now: float) -> bool:
        """Whether the membership is there at `now`."""
        return self.lost_at is None or now < self.lost_at

    def to_list(self) -> list[Any]:
        """JSON-safe form."""
        return [self.data, self.lost_at]


@dataclass
class Holdings:
    """What one course holds besides its settings: content, gradebook columns, enrolments,
    announcements, course calendar items."""

    contents: list[ContentRow] = field(default_factory=list)
    columns: list[ColumnRow] = field(default_factory=list)
    members: dict[str, Membership] = field(default_factory=dict)  # user primary id -> it
    announcements: list[AnnouncementRow] = field(default_factory=list)
    calendar: list[CalendarRow] = field(default_factory=list)

    def members_at(self, now: float) -> list[Membership]:
        """The memberships there at `now`, in enrolment order."""
        return [m for m in self.members.values() if m.exists_at(now)]

    def member_at(self, user_primary_id: str, now: float) -> Membership | None:
        """The user's membership at `now`, if any."""
        found = self.members.get(user_primary_id)
        return found if found is not None and found.exists_at(now) else None

    def content_items(self, parent: str | None, *, recursive: bool) -> list[dict[str, Any]]:
        """The items under `parent` (None: the top level) as Learn lists them; with `recursive`,
        every level below it too, each folder followed by what it holds."""
        children: dict[str | None, list[ContentRow]] = {}
        for row in self.contents:
            children.setdefault(row[1], []).append(row)
        listed: list[dict[str, Any]] = []
        pending: list[Iterator[tuple[int, ContentRow]]] = [enumerate(children.get(parent, []))]
        while pending:
            step = next(pending[-1], None)
            if step is None:
                pending.pop()
                continue
            position, row = step
            below = children.get(row[0], [])
            listed.append(_content_item(row, position, bool(below)))
            if recursive and below:
                pending.append(enumerate(below))
        return listed

    def content_row(self, content_id: str) -> ContentRow | None:
        """The row of the item with this id, if the course holds it."""
        return next((row for row in self.contents if row[0] == content_id), None)

    def gradebook_columns(self) -> list[dict[str, Any]]:
        """The columns as Learn lists them."""
        return [_column(row) for row in self.columns]

    def column_row(self, column_id: str) -> ColumnRow | None:
        """The row of the gradebook column with this id, if the course has it."""
        return next((row for row in self.columns if row[0] == column_id), None)

    def course_announcements(self) -> list[dict[str, Any]]:
        """The announcements as Learn lists them."""
        return [_announcement(row, position) for position, row in enumerate(self.announcements)]

    def announcement_row(self, announcement_id: str) -> AnnouncementRow | None:
        """The row of the announcement with this id, if the course has it."""
        return next((row for row in self.announcements if row[0] == announcement_id), None)

    def calendar_items(self, course_primary_id: str, course_name: str) -> list[dict[str, Any]]:
        """The course's own calendar items (type `Course`) as Learn lists them."""
        return [
            {
                "id": row[0],
                "type": "Course",
                "calendarId": course_primary_id,
                "calendarName": course_name,
                "title": row[1],
                "start": row[2],
                "end": row[3],
                "disableResizing": False,
            }
            for row in self.calendar
        ]

    def column_calendar_items(
        self, course_primary_id: str, course_name: str
    ) -> list[dict[str, Any]]:
        """One read-only calendar item (type `GradebookColumn`) per column with a due date, its
        id the column's, starting and ending when the column is due."""
        return [
            {
                "id": row[0],
                "type": "GradebookColumn",
                "calendarId": course_primary_id,
                "calendarName": course_name,
                "title": row[1],
                "start": row[3],
                "end": row[3],
                "disableResizing": True,
                "dynamicCalendarItemProps": {
                    "attemptable": True,
                    "dateRangeLimited": False,
                    "eventType": "Assignment",
                    "gradable": True,
                },
            }
            for row in self.columns
            if row[3] is not None
        ]

    def calendar_row(self, item_id: str) -> CalendarRow | None:
        """The row of the course calendar item with this id, if the course has it."""
        return next((row for row in self.calendar if row[0] == item_id), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "contents": self.contents,
            "columns": self.columns,
            "members": [m.to_list() for m in self.members.values()],
            "announcements": self.announcements,
            "calendar": self.calendar,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Holdings:
        """The holdings `to_dict` described."""
        members = [Membership(d, lost_at) for d, lost_at in data["members"]]
        return cls(
            [_padded(row, CONTENT_ROW_LENGTH) for row in data["contents"]],
            [_padded(row, COLUMN_ROW_LENGTH) for row in data["columns"]],
            {m.data["userId"]: m for m in members},
            [list(row) for row in data.get("announcements", [])],
            [list(row) for row in data.get("calendar", [])],
        )


def _padded(row: list[Any], length: int) -> list[Any]:
    return [*row, *([None] * (length - len(row)))]


def _content_item(row: ContentRow, position: int, has_children: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"id": row[0]}
    if row[1] is not None:
        item["parentId"] = row[1]
    item["title"] = row[2]
    item["position"] = position
    # As in Learn, an empty folder has no children: only contentHandler says it is a folder.
    item["hasChildren"] = has_children
    item["availability"] = {"available": "Yes"}
    release = _window(row[4], row[5])
    if release:
        item["availability"]["adaptiveRelease"] = release
    item["contentHandler"] = {"id": row[3]}
    return item


def _window(start: str | None, end: str | None) -> dict[str, str]:
    """A start/end pair as Learn shows it: an empty date is left out."""
    return {name: value for name, value in (("start", start), ("end", end)) if value is not None}


def _column(row: ColumnRow) -> dict[str, Any]:
    column: dict[str, Any] = {"id": row[0]}
    if row[4] is not None:
        column["contentId"] = row[4]
    grading: dict[str, Any] = {"type": "Manual"}
    if row[3] is not None:
        grading["due"] = row[3]
    column.update(
        name=row[1],
        displayName=row[1],
        externalGrade=False,
        score={"possible": row[2]},
        availability={"available": "Yes"},
        grading=grading,
    )
    return column


def _announcement(row: AnnouncementRow, position: int) -> dict[str, Any]:
    window = _window(row[2], row[3])
    duration: dict[str, Any] = {"type": "Restricted" if window else "Permanent", **window}
    return {
        "id": row[0],
        "title": row[1],
        "body": f"<p>{row[1]}</p>",
        "draft": False,
        "availability": {"duration": duration},
        "position": position,
    }
