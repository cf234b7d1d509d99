"""What makes a copied course ready to teach: users, enrolments, content trees, gradebook columns,
announcements, course calendar items, and how seeds and copies fill them.

What a course holds is kept as compact rows (`_holdings`) and shown in Learn's shapes only when
asked for. Every id sequence (users, content, columns, announcements, calendar items) is
Learn's own, apart from
the courses' and terms'. Seeded counts derive from the courseId alone, so a course looks the same
on every site that seeds it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._config import SandboxConfigInvalid, SeedUser
from ._dates import DatePlan
from ._holdings import Holdings, Membership
from ._replies import json_copy

# Learn's built-in course roles; an institution may add its own (`SandboxConfig.roles`).
BUILTIN_ROLES = (
    "Instructor",
    "TeachingAssistant",
    "CourseBuilder",
    "Grader",
    "BbFacilitator",
    "Student",
    "Guest",
)
FOLDER = "resource/x-bb-folder"
ITEM_HANDLERS = (
    "resource/x-bb-document",
    "resource/x-bb-file",
    "resource/x-bb-externallink",
    "resource/x-bb-asmt-test-link",
    "resource/x-bb-assignment",
)
# Anthology: "typically you can start to work with the copied course around 15% completion". The
# copy's membership step runs then; an enrolment made into the course before it is lost.
MEMBERSHIP_STEP_PERCENT = 15
SEEDED_CONTENTS = (5, 60)
SEEDED_COLUMNS = (0, 20)
MAX_FOLDER_DEPTH = 3


def seeded_counts(course_id: str) -> tuple[int, int]:
    """(content items, gradebook columns) of a source course seeded without explicit counts."""
    rng = random.Random(f"rollover-sandbox:counts:{course_id}")
    return rng.randint(*SEEDED_CONTENTS), rng.randint(*SEEDED_COLUMNS)


_TITLES = {
    FOLDER: "Week",
    "resource/x-bb-document": "Reading",
    "resource/x-bb-file": "Handout",
    "resource/x-bb-externallink": "Link",
    "resource/x-bb-asmt-test-link": "Quiz",
    "resource/x-bb-assignment": "Assignment",
}


def content_plan(course_id: str, count: int) -> list[tuple[int | None, str, str]]:
    """`count` items as (index of the parent folder or None, title, contentHandler.id), parents
    before children: nested folders from five items, and an empty folder from four."""
    rng = random.Random(f"rollover-sandbox:contents:{course_id}")
    plan: list[tuple[int | None, str, str]] = []
    depth: dict[int, int] = {}  # folder index -> its depth (1 at the top level)
    numbers: dict[str, int] = {}
    spare_folder = count >= 4

    def add(parent: int | None, handler: str, title: str | None = None) -> None:
        numbers[handler] = numbers.get(handler, 0) + 1
        plan.append((parent, title or f"{_TITLES[handler]} {numbers[handler]}", handler))
        if handler == FOLDER:
            depth[len(plan) - 1] = 1 if parent is None else depth[parent] + 1

    for n in range(count - 1 if spare_folder else count):
        if n == 0 and count >= 2:
            add(None, FOLDER)
            continue
        if n == 1 and count >= 5:
            add(0, FOLDER)  # a folder in a folder
            continue
        folders = list(depth)
        parent = None if not folders or rng.random() < 0.2 else rng.choice(folders[-3:])
        nested = 0 if parent is None else depth[parent]
        if nested < MAX_FOLDER_DEPTH and rng.random() < 0.2:
            add(parent, FOLDER)
        else:
            add(parent, rng.choice(ITEM_HANDLERS))
    if spare_folder:
        add(None, FOLDER, "Archive")  # never given anything: an empty folder
    return plan


def column_plan(course_id: str, count: int) -> list[tuple[str, float]]:
    """`count` gradebook columns as (name, points possible)."""
    rng = random.Random(f"rollover-sandbox:columns:{course_id}")
    kinds = ("Assignment", "Quiz", "Essay", "Lab")
    return [
        (f"{rng.choice(kinds)} {n}", float(rng.choice((10, 20, 25, 50, 100))))
        for n in range(1, count + 1)
    ]


def user_uuid(seed: int, user_name: str) -> str:
    """A user's uuid: fixed by the site's seed and the userName, whatever else the site holds."""
    return hashlib.sha256(f"{seed}:user:{user_name}".encode()).hexdigest()[:32]


@dataclass
class Teaching:
    """The site's users and every course's holdings, with the id sequences they draw from."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # primary id -> User JSON
    courses: dict[str, Holdings] = field(default_factory=dict)  # course primary id -> holdings
    next_user_id: int = 1
    next_content_id: int = 1
    next_column_id: int = 1
    next_announcement_id: int = 1
    next_calendar_id: int = 1
    _by_field: dict[str, dict[str, dict[str, Any]]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    # Calendar item id -> the primary id of its course: Learn's calendar PATCH names no course.
    _calendar_course: dict[str, str] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._by_field = {"userName": {}, "externalId": {}, "uuid": {}}
        for user in self.users.values():
            self._index(user)
        for course_primary_id, holdings in self.courses.items():
            for row in holdings.calendar:
                self._calendar_course[row[0]] = course_primary_id

    def _index(self, user: dict[str, Any]) -> None:
        for name, index in self._by_field.items():
            index.setdefault(user[name], user)

    def add_user(self, seed: SeedUser, uuid: str, now_iso: str) -> dict[str, Any]:
        """Create a user account; a userName or externalId already taken is an error."""
        external_id = seed.effective_external_id
        if seed.user_name in self._by_field["userName"]:
            raise SandboxConfigInvalid(
                f'[[users]] user_name = "{seed.user_name}": two users are named '
                f"{seed.user_name!r}; expected each user_name once"
            )
        if external_id in self._by_field["externalId"]:
            raise SandboxConfigInvalid(
                f'[[users]] external_id = "{external_id}": two users have the externalId '
                f"{external_id!r}; expected each external_id once (a user without one has "
                "their user_name as externalId)"
            )
        given, family = _names(seed.user_name)
        primary_id = f"_{self.next_user_id}_1"
        self.next_user_id += 1
        user: dict[str, Any] = {
            "id": primary_id,
            "uuid": uuid,
            "externalId": external_id,
            "dataSourceId": "_2_1",
            "userName": seed.user_name,
            "created": now_iso,
            "modified": now_iso,
            "institutionRoleIds": ["STUDENT"],
            "systemRoleIds": ["SystemAdmin"] if seed.system_admin else ["User"],
            "availability": {"available": "Yes"},
            "name": {"given": given, "family": family},
        }
        self.users[primary_id] = user
        self._index(user)
        return user

    def is_system_admin(self, user: dict[str, Any]) -> bool:
        """Whether the user is a system administrator, whom an application may not enrol."""
        return "SystemAdmin" in user["systemRoleIds"]

    def has_user(self, user_name: str) -> bool:
        """Whether a user with this userName exists."""
        return user_name in self._by_field["userName"]

    def find_user(self, ref: str) -> dict[str, Any] | None:
        """The user named by `ref`: `_N_1`, `userName:X`, `externalId:X` or `uuid:X`."""
        for prefix in ("userName", "externalId", "uuid"):
            if ref.startswith(prefix + ":"):
                return self._by_field[prefix].get(ref[len(prefix) + 1 :])
        return self.users.get(ref.removeprefix("primaryId:"))

    def holdings(self, course_primary_id: str) -> Holdings:
        """What the course holds, to change it: kept from now on."""
        found = self.courses.get(course_primary_id)
        if found is None:
            found = self.courses[course_primary_id] = Holdings()
        return found

    def view(self, course_primary_id: str) -> Holdings:
        """What the course holds, to read it: a course never given anything gets an empty
        Holdings that is not kept, so reading changes no state."""
        found = self.courses.get(course_primary_id)
        return found if found is not None else Holdings()

    def calendar_course(self, item_id: str) -> str | None:
        """The primary id of the course whose calendar holds the item `item_id`, if any."""
        return self._calendar_course.get(item_id)

    def seed_course(
        self,
        course_primary_id: str,
        course_id: str,
        contents: int,
        columns: int,
        dates: DatePlan | None = None,
    ) -> None:
        """Give a seeded course `contents` items (folders included) and `columns` columns, and
        the dated items `dates` lays out (None: no dates, no announcements, no calendar items)."""
        dates = dates or DatePlan()
        holdings = self.holdings(course_primary_id)
        ids: list[str] = []
        for parent, title, handler in content_plan(course_id, contents):
            ids.append(self._content_id())
            holdings.contents.append(
                [ids[-1], None if parent is None else ids[parent], title, handler, None, None]
            )
        items = [row for row in holdings.contents if row[3] != FOLDER]
        for row, (start, end) in zip(items, dates.releases, strict=False):
            row[4:6] = [start, end]
        dues = [*dates.dues, *([None] * columns)]
        for (name, possible), due in zip(column_plan(course_id, columns), dues, strict=False):
            holdings.columns.append([self._column_id(), name, possible, due, None])
        # The first dated columns grade the first dated items (an assignment and its column).
        for column, item in zip(holdings.columns, items[: dates.linked], strict=False):
            column[4] = item[0]
        for number, (start, end) in enumerate(dates.announcements, start=1):
            holdings.announcements.append([self._announcement_id(), f"Week {number}", start, end])
        for number, (start, end) in enumerate(dates.calendar, start=1):
            self._add_calendar_item(course_primary_id, f"Review session {number}", start, end)

    def copy_into(
        self,
        source_primary_id: str,
        target_primary_id: str,
        *,
        partial: bool,
        members_at: float | None,
        target_label: str,
        now_iso: str,
        contents: bool = True,
        columns: bool = True,
        announcements: bool = True,
        calendar: bool = True,
    ) -> None:
        """Add the source's content, columns, announcements and calendar items to the target, as
        new items (a copy adds and removes nothing) with their dates unchanged, each only if the
        request copies it (`contents`: the content areas, `columns`: the gradebook,
        `announcements`, `calendar`);
        `partial` adds only the first half of the content. A copied column keeps its link to a
        content item copied with it. With `members_at` (an exact copy), the source's members
        then who are not yet members of the target join."""
        source = self.view(source_primary_id)
        target = self.holdings(target_primary_id)
        rows = source.contents[: len(source.contents) // 2] if partial else source.contents
        rows = rows if contents else []
        # Parents come before their children, so a prefix is a tree and each parent is mapped.
        new_ids: dict[str, str] = {}
        for content_id, parent, title, handler, start, end in list(rows):
            new_ids[content_id] = self._content_id()
            parent_id = None if parent is None else new_ids[parent]
            target.contents.append([new_ids[content_id], parent_id, title, handler, start, end])
        for _, name, possible, due, linked in list(source.columns) if columns else []:
            new_link = new_ids.get(linked) if linked is not None else None
            target.columns.append([self._column_id(), name, possible, due, new_link])
        for _, title, start, end in list(source.announcements) if announcements else []:
            target.announcements.append([self._announcement_id(), title, start, end])
        for _, title, start, end in list(source.calendar) if calendar else []:
            self._add_calendar_item(target_primary_id, title, start, end)
        if members_at is None:
            return
        for membership in source.members_at(members_at):
            user_id = membership.data["userId"]
            if target.member_at(user_id, members_at) is None:
                data = json_copy(membership.data)
                data.update(courseId=target_label, created=now_iso, modified=now_iso)
                data.pop("childCourseId", None)  # a merged parent's copy enrols them directly
                target.members.pop(user_id, None)
                target.members[user_id] = Membership(data)

    def _content_id(self) -> str:
        content_id = f"_{self.next_content_id}_1"
        self.next_content_id += 1
        return content_id

    def _column_id(self) -> str:
        column_id = f"_{self.next_column_id}_1"
        self.next_column_id += 1
        return column_id

    def _announcement_id(self) -> str:
        announcement_id = f"_{self.next_announcement_id}_1"
        self.next_announcement_id += 1
        return announcement_id

    def _add_calendar_item(self, course_primary_id: str, title: str, start: str, end: str) -> None:
        item_id = f"_{self.next_calendar_id}_1"
        self.next_calendar_id += 1
        self.holdings(course_primary_id).calendar.append([item_id, title, start, end])
        self._calendar_course[item_id] = course_primary_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "users": list(self.users.values()),
            "courses": {pk: holdings.to_dict() for pk, holdings in self.courses.items()},
            "next_user_id": self.next_user_id,
            "next_content_id": self.next_content_id,
            "next_column_id": self.next_column_id,
            "next_announcement_id": self.next_announcement_id,
            "next_calendar_id": self.next_calendar_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Teaching:
        """The teaching state `to_dict` described."""
        return cls(
            {user["id"]: user for user in data["users"]},
            {pk: Holdings.from_dict(held) for pk, held in data["courses"].items()},
            data["next_user_id"],
            data["next_content_id"],
            data["next_column_id"],
            data.get("next_announcement_id", 1),
            data.get("next_calendar_id", 1),
        )


def _names(user_name: str) -> tuple[str, str]:
    """(given, family) made up from a userName: `jane.doe` is Jane Doe, `jdoe` is Jdoe User."""
    parts = [part for part in user_name.replace("_", ".").replace("-", ".").split(".") if part]
    if len(parts) >= 2:
        return parts[0].title(), parts[-1].title()
    return (parts[0].title() if parts else user_name), "User"


def all_roles(extra: Iterable[str]) -> frozenset[str]:
    """Learn's built-in course roles and the institution's own."""
    return frozenset((*BUILTIN_ROLES, *extra))
