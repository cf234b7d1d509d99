"""Merged (cross-listed) courses: which course is whose child, and the enrolments that follow.

Learn merges one level only: a parent holds children, a child has one parent, and neither can
also be the other. Each link is kept as the `CourseChild` Learn shows (`id` the child's primary
id, `parentId`, `dataSourceId`, `created`); the courses' own `hasChildren` and `parentId` are set
from it. A child's enrolments are replicated into its parent, marked with the child's primary id
as `childCourseId`, and kept in sync as the child's enrolments change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._catalog import Course
from ._holdings import Membership
from ._replies import json_copy
from ._teaching import Teaching

STUDENT = "Student"
SEPARATION_STYLES = ("completeSeparation", "enrollmentsInBoth")


@dataclass
class CrossListing:
    """Every parent/child link of the site, in the order the children were attached."""

    links: dict[str, dict[str, Any]] = field(default_factory=dict)  # child primary id -> it

    def parent_of(self, child_primary_id: str) -> str | None:
        """The primary id of the course's parent, or None when it is no child."""
        link = self.links.get(child_primary_id)
        return str(link["parentId"]) if link is not None else None

    def children_of(self, parent_primary_id: str) -> list[dict[str, Any]]:
        """The course's `CourseChild` links, in attachment order ([] for no parent)."""
        return [link for link in self.links.values() if link["parentId"] == parent_primary_id]

    def cross_list_set(self, primary_id: str) -> list[dict[str, Any]]:
        """Every link of the merged set the course belongs to, as parent or child; [] if none."""
        parent = self.parent_of(primary_id) or primary_id
        return self.children_of(parent)

    def link(self, parent: Course, child: Course, created_iso: str) -> dict[str, Any]:
        """Make `child` a child of `parent` (the caller checked the one-level rule)."""
        link = {
            "id": child.primary_id,
            "parentId": parent.primary_id,
            "dataSourceId": "_2_1",
            "created": created_iso,
        }
        self.links[child.primary_id] = link
        child.data["parentId"] = parent.primary_id
        parent.data["hasChildren"] = True
        return link

    def unlink(self, parent: Course, child: Course) -> None:
        """Separate `child` from `parent`: two unrelated courses again."""
        del self.links[child.primary_id]
        child.data.pop("parentId", None)
        parent.data["hasChildren"] = bool(self.children_of(parent.primary_id))

    def to_list(self) -> list[dict[str, Any]]:
        """JSON-safe form, in attachment order."""
        return list(self.links.values())

    @classmethod
    def from_list(cls, links: list[dict[str, Any]]) -> CrossListing:
        """The links `to_list` described."""
        return cls({link["id"]: link for link in links})


def duplicate_students(teaching: Teaching, parent: Course, child: Course, now: float) -> list[str]:
    """The user ids a merge would enrol twice: students of the child the parent holds already
    (directly, or through another child). Learn answers these 409 unless told to ignore them."""
    parent_members = teaching.view(parent.primary_id)
    return [
        member.data["userId"]
        for member in teaching.view(child.primary_id).members_at(now)
        if member.data["courseRoleId"] == STUDENT
        and parent_members.member_at(member.data["userId"], now) is not None
    ]


def replicate_members(teaching: Teaching, parent: Course, child: Course, now: float) -> None:
    """Copy the child's enrolments into the parent. A student the parent holds already keeps
    the parent's membership (the duplicate is skipped); any other role is taken from the child,
    as Learn assigns such roles by the last time the user was added to the parent."""
    for member in teaching.view(child.primary_id).members_at(now):
        mirror_member(teaching, parent, child, member, now)


def mirror_member(
    teaching: Teaching, parent: Course, child: Course, member: Membership, now: float
) -> None:
    """Keep the parent's copy of one of the child's memberships in step with it."""
    members = teaching.holdings(parent.primary_id).members
    user_id = member.data["userId"]
    there = members.get(user_id)
    held_otherwise = (
        there is not None
        and there.exists_at(now)
        and there.data.get("childCourseId") != child.primary_id
    )
    if there is not None and held_otherwise:
        if member.data["courseRoleId"] != STUDENT:
            there.data["courseRoleId"] = member.data["courseRoleId"]
        return
    data = json_copy(member.data)
    data["courseId"] = parent.primary_id
    data["childCourseId"] = child.primary_id
    members.pop(user_id, None)
    members[user_id] = Membership(data)


def separate_members(teaching: Teaching, parent: Course, child: Course, style: str) -> None:
    """Undo the child's replicated enrolments in the parent: removed (`completeSeparation`), or
    left in the parent as its own, unavailable (`enrollmentsInBoth`)."""
    members = teaching.holdings(parent.primary_id).members
    for user_id, member in list(members.items()):
        if member.data.get("childCourseId") != child.primary_id:
            continue
        if style == "completeSeparation":
            del members[user_id]
        else:
            del member.data["childCourseId"]
            member.data["availability"] = {"available": "No"}
