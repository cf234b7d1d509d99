"""The user and membership endpoints: read a user; enrol, change, read and list memberships."""

from __future__ import annotations

from typing import Any

from ._catalog import Course
from ._crosslist import mirror_member
from ._holdings import Membership
from ._record import EnrolmentEvent
from ._replies import (
    LearnRefusal,
    Reply,
    iso_time,
    page_of,
    trim_fields,
)
from ._site import API, SiteCore, require_json
from ._spec import MEMBERSHIP_PATH, validate_request_body
from ._teaching import (
    MEMBERSHIP_STEP_PERCENT,
    all_roles,
)


def membership_data(
    user_id: str,
    course_primary_id: str,
    role: str,
    now_iso: str,
    *,
    data_source_id: str = "_2_1",
    available: str = "Yes",
) -> dict[str, Any]:
    """A new membership as Learn shows it."""
    return {
        "userId": user_id,
        "courseId": course_primary_id,
        "dataSourceId": data_source_id,
        "created": now_iso,
        "modified": now_iso,
        "availability": {"available": available},
        "courseRoleId": role,
    }


class MemberCalls(SiteCore):
    """GET users and PUT/PATCH/GET course memberships."""

    def get_user(self, ref: str, authorization: str | None, fields: str | None = None) -> Reply:
        """GET /v1/users/{id}: one user by `_N_1`, `userName:X`, `externalId:X` or `uuid:X`."""
        return self._serve(
            "GET /v1/users/{id}",
            authorization,
            lambda now: Reply(200, trim_fields(self._user(ref), fields)),
        )

    def put_membership(
        self, course_ref: str, user_ref: str, body: Any, authorization: str | None
    ) -> Reply:
        """PUT /v1/courses/{id}/users/{id}: enrol a user (201), or 409 if already a member."""
        return self._serve(
            "PUT /v1/courses/{id}/users/{id}",
            authorization,
            lambda now: self._enrol(course_ref, user_ref, body, now),
        )

    def patch_membership(
        self, course_ref: str, user_ref: str, body: Any, authorization: str | None
    ) -> Reply:
        """PATCH /v1/courses/{id}/users/{id}: change a member's role or availability."""
        return self._serve(
            "PATCH /v1/courses/{id}/users/{id}",
            authorization,
            lambda now: self._patch_membership(course_ref, user_ref, body, now),
        )

    def get_membership(
        self, course_ref: str, user_ref: str, authorization: str | None, fields: str | None = None
    ) -> Reply:
        """GET /v1/courses/{id}/users/{id}: one membership, 404 when the user is no member."""

        def answer(now: float) -> Reply:
            _, _, membership = self._membership(course_ref, user_ref, now)
            return Reply(200, trim_fields(membership.data, fields))

        return self._serve("GET /v1/courses/{id}/users/{id}", authorization, answer)

    def list_memberships(
        self, course_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /v1/courses/{id}/users: the course's memberships (`role` filters), paged."""

        def answer(now: float) -> Reply:
            course = self._course(course_ref)
            members = [
                m.data
                for m in self.teaching.view(course.primary_id).members_at(now)
                if query.get("role") in (None, m.data["courseRoleId"])
            ]
            path = f"{API}/v1/courses/{course.primary_id}/users"
            return Reply(200, page_of(members, path, query, query.get("fields")))

        return self._serve("GET /v1/courses/{id}/users", authorization, answer)

    def _mirror_in_parent(self, course: Course, membership: Membership, now: float) -> None:
        """A merged child's enrolments are kept in sync in its parent, as Learn does."""
        parent = self.crosslist.parent_of(course.primary_id)
        if parent is not None:
            mirror_member(self.teaching, self.catalog.courses[parent], course, membership, now)

    def _membership(
        self, course_ref: str, user_ref: str, now: float
    ) -> tuple[Course, dict[str, Any], Membership]:
        course, user = self._course(course_ref), self._user(user_ref)
        found = self.teaching.view(course.primary_id).member_at(user["id"], now)
        if found is None:
            raise LearnRefusal(404, f"Course membership not found: {user_ref} in {course_ref}")
        return course, user, found

    def _enrol(self, course_ref: str, user_ref: str, body: Any, now: float) -> Reply:
        _check_membership_body("put", body)
        course, user = self._course(course_ref), self._user(user_ref)
        role = body.get("courseRoleId", "Student")
        if role not in all_roles(self.config.roles):
            raise LearnRefusal(404, f"Course role not found: {role}")
        if self.teaching.is_system_admin(user):
            raise LearnRefusal(
                403,
                "User is a System Admin and the Logged-on User is not a System Administrator",
            )
        if self.teaching.view(course.primary_id).member_at(user["id"], now) is not None:
            raise LearnRefusal(409, "User already enrolled", status_as_string=True)
        # The copy's membership step runs at 15%: an enrolment made before it is dropped then.
        running = self.queue.unfinished_into(course.primary_id, now)
        percent = min((task.percent_at(now) for task in running), default=None)
        lost_at = min(
            (
                task.time_reaching(MEMBERSHIP_STEP_PERCENT)
                for task in running
                if task.percent_at(now) < MEMBERSHIP_STEP_PERCENT
            ),
            default=None,
        )
        data = membership_data(
            user["id"],
            course.primary_id,
            role,
            iso_time(now),
            data_source_id=body.get("dataSourceId", "_2_1"),
            available=body.get("availability", {}).get("available", "Yes"),
        )
        if "displayOrder" in body:
            data["displayOrder"] = body["displayOrder"]
        members = self.teaching.holdings(course.primary_id).members
        members.pop(user["id"], None)  # one the copy dropped: enrolled afresh, last in order
        members[user["id"]] = Membership(data, lost_at)
        self._mirror_in_parent(course, members[user["id"]], now)
        self.record.enrolments.append(
            EnrolmentEvent(
                course.primary_id,
                course.course_id,
                user["id"],
                role,
                now,
                percent,
                lost=lost_at is not None,
            )
        )
        return Reply(201, data)

    def _patch_membership(self, course_ref: str, user_ref: str, body: Any, now: float) -> Reply:
        _check_membership_body("patch", body)
        course, _, membership = self._membership(course_ref, user_ref, now)
        role = body.get("courseRoleId")
        if role is not None and role not in all_roles(self.config.roles):
            raise LearnRefusal(400, f"Invalid courseRoleId: {role}")
        data = membership.data
        if role is not None:
            data["courseRoleId"] = role
        if "available" in body.get("availability", {}):
            data["availability"] = {"available": body["availability"]["available"]}
        for name in ("dataSourceId", "displayOrder"):
            if name in body:
                data[name] = body[name]
        data["modified"] = iso_time(now)
        self._mirror_in_parent(course, membership, now)
        return Reply(200, data)


def _check_membership_body(method: str, body: Any) -> None:
    require_json(body)
    problems = validate_request_body(method, MEMBERSHIP_PATH, body)
    if problems:
        raise LearnRefusal(400, "Invalid request body: " + "; ".join(problems))
    if "childCourseId" in body:
        # Moving an enrolment between the courses of a merged set is not modelled.
        raise LearnRefusal(400, f"Invalid childCourseId: {body['childCourseId']}")
