"""The merged-course endpoints: attach a child to a parent, read the children and the merged
set, and separate a child again (Learn's "Merged (cross-listed) courses")."""

from __future__ import annotations

from typing import Any

from ._catalog import Course
from ._config import CROSS_LIST_ENTITLEMENT
from ._crosslist import SEPARATION_STYLES, duplicate_students, replicate_members, separate_members
from ._record import AttachEvent
from ._replies import LearnRefusal, Reply, json_copy, page_of, trim_fields
from ._site import API, SiteCore, query_flag

# What a gateway in front of Learn answers when Learn took too long: the attachment was made,
# the answer never reached the client.
GATEWAY_TIMEOUT_PAGE = "<html><body><h1>504 Gateway Time-out</h1></body></html>\n"


class MergeCalls(SiteCore):
    """PUT/GET/DELETE /v1/courses/{id}/children/{id}, GET .../children and .../crossListSet;
    and the seams tests read the merged sets by (`parent_of`, `children_of`, `attach_log`)."""

    def attach_child(
        self, parent_ref: str, child_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """PUT /v1/courses/{id}/children/{id}: merge the child into the parent (201)."""
        return self._serve(
            "PUT /v1/courses/{id}/children/{id}",
            authorization,
            lambda now: self._attach(parent_ref, child_ref, query, now),
        )

    def list_children(
        self, parent_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /v1/courses/{id}/children: the parent's children (400 if it has none), paged."""

        def answer(now: float) -> Reply:
            parent = self._course(parent_ref)
            links = [self._shown(link, query) for link in self._links_of_parent(parent)]
            return _links_page(parent, "children", links, query)

        return self._serve("GET /v1/courses/{id}/children", authorization, answer)

    def get_child(
        self, parent_ref: str, child_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /v1/courses/{id}/children/{id}: one child of the parent."""

        def answer(now: float) -> Reply:
            parent, child = self._course(parent_ref), self._course(child_ref)
            link = self._link(parent, child)
            return Reply(200, trim_fields(self._shown(link, query), query.get("fields")))

        return self._serve("GET /v1/courses/{id}/children/{id}", authorization, answer)

    def get_cross_list_set(
        self, course_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /v1/courses/{id}/crossListSet: every link of the course's merged set, whether
        it is the parent or a child; an empty list when it is not merged."""

        def answer(now: float) -> Reply:
            course = self._course(course_ref)
            links = [json_copy(link) for link in self.crosslist.cross_list_set(course.primary_id)]
            return _links_page(course, "crossListSet", links, query)

        return self._serve("GET /v1/courses/{id}/crossListSet", authorization, answer)

    def separate_child(
        self, parent_ref: str, child_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """DELETE /v1/courses/{id}/children/{id}: two unrelated courses again (204)."""

        def answer(now: float) -> Reply:
            style = query.get("separationStyle", "completeSeparation")
            if style not in SEPARATION_STYLES:
                raise LearnRefusal(400, f"Invalid separationStyle: {style}")
            parent, child = self._course(parent_ref), self._course(child_ref)
            if self.crosslist.parent_of(child.primary_id) != parent.primary_id:
                raise LearnRefusal(404, f"Course {child.course_id} is not a child of this course")
            self.crosslist.unlink(parent, child)
            separate_members(self.teaching, parent, child, style)
            return Reply(204)

        return self._serve("DELETE /v1/courses/{id}/children/{id}", authorization, answer)

    def parent_of(self, ref: str) -> Course | None:
        """The parent of the course named by `ref` (any id form), or None when it is no child
        (or no course)."""
        course = self.catalog.find_course(ref)
        parent = self.crosslist.parent_of(course.primary_id) if course is not None else None
        return self.catalog.find_course(parent) if parent is not None else None

    def children_of(self, ref: str) -> list[Course]:
        """The children of the course named by `ref`, in attachment order ([] for none)."""
        course = self.catalog.find_course(ref)
        if course is None:
            return []
        links = self.crosslist.children_of(course.primary_id)
        return [self.catalog.courses[link["id"]] for link in links]

    def attach_log(self) -> list[AttachEvent]:
        """Every attachment Learn made, in order, with when and whether the parent's copy had
        finished then (answers lost included)."""
        return list(self.record.attachments)

    def _attach(self, parent_ref: str, child_ref: str, query: dict[str, str], now: float) -> Reply:
        ignore = query_flag(query, "ignoreEnrollmentErrors")
        parent, child = self._course(parent_ref), self._course(child_ref)
        if CROSS_LIST_ENTITLEMENT in self.config.missing_entitlements:
            raise LearnRefusal(403, "User is not authorized to cross-list courses")
        self._check_merge(parent, child)
        duplicates = duplicate_students(self.teaching, parent, child, now)
        if duplicates and not ignore:
            raise LearnRefusal(
                409,
                f"Duplicate student enrollments: {', '.join(duplicates)} of course "
                f"{child.course_id} already enrolled in course {parent.course_id}; send "
                "ignoreEnrollmentErrors=true to merge without them",
                status_as_string=True,
            )
        link = self.crosslist.link(parent, child, self.site_time(now))
        replicate_members(self.teaching, parent, child, now)
        task = self.queue.tasks.get(parent.copy_task) if parent.copy_task else None
        lost = len(self.record.attachments) + 1 in self.config.drop_attach_responses
        self.record.attachments.append(
            AttachEvent(
                parent.primary_id,
                parent.course_id,
                child.primary_id,
                child.course_id,
                now,
                copy_complete=task is None or task.applied,
                ignore_enrollment_errors=ignore,
                answer_lost=lost,
            )
        )
        if lost:
            self.record.faults["dropped_attach_response"] += 1
            return Reply(504, text=GATEWAY_TIMEOUT_PAGE)
        shown = {**json_copy(link), "childCourse": json_copy(child.data)}
        return Reply(201, trim_fields(shown, query.get("fields")))

    def _check_merge(self, parent: Course, child: Course) -> None:
        """Learn's one-level rule and an existing link, as refusals naming the courses."""
        if parent is child:
            raise LearnRefusal(400, f"Course {parent.course_id} cannot be merged into itself")
        has_parent = self.crosslist.parent_of(child.primary_id)
        if has_parent == parent.primary_id:
            raise LearnRefusal(
                409,
                f"Course {child.course_id} is already a child of course {parent.course_id}",
                status_as_string=True,
            )
        if has_parent is not None:
            other = self.catalog.courses[has_parent]
            raise LearnRefusal(
                409,
                f"Course {child.course_id} is already a child of another course "
                f"({other.course_id}); separate it from that parent first",
                status_as_string=True,
            )
        if self.crosslist.children_of(child.primary_id):
            raise LearnRefusal(
                409,
                f"Course {child.course_id} is a parent of cross-listed courses and cannot "
                "become a child",
                status_as_string=True,
            )
        grandparent = self.crosslist.parent_of(parent.primary_id)
        if grandparent is not None:
            raise LearnRefusal(
                409,
                f"Course {parent.course_id} is a child of course "
                f"{self.catalog.courses[grandparent].course_id} and cannot become a parent",
                status_as_string=True,
            )

    def _links_of_parent(self, parent: Course) -> list[dict[str, Any]]:
        links = self.crosslist.children_of(parent.primary_id)
        if not links:
            raise LearnRefusal(400, "Course not a cross-listed parent")
        return links

    def _link(self, parent: Course, child: Course) -> dict[str, Any]:
        links = self._links_of_parent(parent)
        for link in links:
            if link["id"] == child.primary_id:
                return link
        raise LearnRefusal(404, f"Course {child.course_id} is not a child of this course")

    def _shown(self, link: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        # Learn adds the child course itself only when asked with `expand=childCourse`.
        shown: dict[str, Any] = json_copy(link)
        expand = {part.strip() for part in query.get("expand", "").split(",")}
        if "childCourse" in expand:
            shown["childCourse"] = json_copy(self.catalog.courses[link["id"]].data)
        return shown


def _links_page(
    course: Course, tail: str, links: list[dict[str, Any]], query: dict[str, str]
) -> Reply:
    """One page of CourseChild links listed under `/v1/courses/{course}/{tail}`."""
    path = f"{API}/v1/courses/{course.primary_id}/{tail}"
    return Reply(200, page_of(links, path, query, query.get("fields")))
