"""Merged sections (Learn's cross-listing): a child course attached under a parent, a parent's
children, and where a course stands among merged courses.

Learn merges one level only: a parent never becomes a child, a child never a parent. The
attach is a PUT, so it is retried like every idempotent change; when Learn refuses it (400,
409), the child is read: already this parent's child is done (the retry of an attach whose
answer was lost), anything else is `AttachRefused` naming the child and the next step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollover.errors import AttachRefused, LearnError, LearnProtocolError, MergeForbidden

from ._answers import json_object
from ._ids import course_path, id_form, path_id
from ._statuses import SUCCESS, Call, Meaning, error_meaning, found
from ._transport import Transport

FAMILY_FIELDS = "id,courseId,name,parentId,hasChildren"
ATTACH = "PUT /v1/courses/{id}/children/{id}"
CHILDREN = "GET /v1/courses/{id}/children"
# Learn's minimum for merging (the spec of PUT .../children/{childCourseId}).
CROSS_LIST_ENTITLEMENT = (
    "system.course.cross-list.VIEW (system.org.cross-list.VIEW for organizations)"
)
LEAVE_OUT = "take it out of the row's child_course_ids"


@dataclass(frozen=True)
class CourseFamily:
    """Where a course stands among merged courses, as its course record says."""

    id: str  # the primary id (`_N_1`)
    course_id: str
    name: str
    parent_id: str | None  # the parent's primary id, when the course is a child
    has_children: bool  # whether the course is a parent


async def course_family(wire: Transport, ref: str) -> CourseFamily:
    """The family of the course `ref` names (a courseId, `externalId:X`, `_N_1`)."""
    endpoint = "GET /v3/courses/{id}"
    body = await wire.get_one(course_path(id_form(ref)), endpoint, FAMILY_FIELDS)
    primary, parent = body.get("id"), body.get("parentId")
    if not isinstance(primary, str) or not primary:
        raise LearnProtocolError(200, "a course without an id", endpoint=endpoint)
    return CourseFamily(
        id=primary,
        course_id=str(body.get("courseId") or ""),
        name=str(body.get("name") or ""),
        parent_id=parent if isinstance(parent, str) and parent else None,
        has_children=body.get("hasChildren") is True,
    )


async def attach_child(wire: Transport, parent_pk: str, child_ref: str) -> dict[str, Any]:
    """PUT the child under the parent, enrolment errors ignored; the child's cross-listing."""
    path = f"{course_path(parent_pk, 'v1')}/children/{path_id(id_form(child_ref))}"
    try:
        response = await wire.idempotent(
            "PUT",
            path,
            ATTACH,
            params={"ignoreEnrollmentErrors": "true"},
            expect=SUCCESS,  # Learn documents 201; any 2xx is attached (`meaning`'s OK)
            reads_json=False,  # Learn's CourseChild is welcome, not needed
        )
    except LearnError as exc:
        verdict = error_meaning(Call.ATTACH, exc)
        if verdict is Meaning.CHECK_CHILD:
            return await _attached_already(wire, parent_pk, child_ref, exc)
        if verdict is Meaning.NOT_FOUND:  # which course, if Learn's message names one alone
            said = exc.learn_message.lower()
            parent = "parent" in said and "child" not in said
            raise _missing(parent_pk, child_ref, exc, parent=parent) from exc
        if verdict is Meaning.UNENTITLED:
            raise MergeForbidden(
                exc.status,
                exc.learn_message,
                parent=parent_pk,
                child=child_ref,
                entitlement=CROSS_LIST_ENTITLEMENT,
                code=exc.code,
                endpoint=exc.endpoint,
            ) from exc
        if verdict is Meaning.ROW_FAILED:
            raise _refused(
                parent_pk, child_ref, exc, "Learn refused it", f"check both courses, or {LEAVE_OUT}"
            ) from exc
        raise
    return json_object(response, ATTACH, required=False)


async def children(wire: Transport, parent_pk: str) -> list[dict[str, Any]]:
    """Every child of a course (Learn's CourseChild objects); [] for a course without any."""
    try:
        return await wire.all(f"{course_path(parent_pk, 'v1')}/children", CHILDREN, {})
    except LearnError as exc:
        if error_meaning(Call.CHILDREN, exc) is Meaning.EMPTY:
            return []
        raise


async def _attached_already(
    wire: Transport, parent_pk: str, child_ref: str, refusal: LearnError
) -> dict[str, Any]:
    """After a refused attach: the child's cross-listing when it is this parent's child already,
    else AttachRefused saying why Learn refused."""
    child = await found(course_family(wire, child_ref))
    if child is None:
        raise _missing(parent_pk, child_ref, refusal)
    if child.parent_id == parent_pk:
        return {"id": child.id, "parentId": parent_pk}
    if child.id == parent_pk:
        why, hint = "a course cannot be its own child", LEAVE_OUT
    elif child.parent_id is not None:
        other = await found(course_family(wire, child.parent_id))  # named as people know it
        named = f"{other.course_id} ({child.parent_id})" if other else child.parent_id
        why = f"{child_ref} is already a section of another course, {named}, in Learn"
        hint = f"separate it from {named} in Learn first, or {LEAVE_OUT}"
    elif child.has_children:
        why = f"{child_ref} is itself a parent of merged courses (Learn merges one level only)"
        hint = f"separate its children in Learn first, or {LEAVE_OUT}"
    else:
        parent = await found(course_family(wire, parent_pk))
        if parent is not None and parent.parent_id is not None:
            why = f"the parent {parent_pk} is itself a child of {parent.parent_id}"
            hint = f"separate the parent from {parent.parent_id} in Learn first, or {LEAVE_OUT}"
        else:
            why, hint = "Learn refused it", f"check both courses in Learn, or {LEAVE_OUT}"
    raise _refused(parent_pk, child_ref, refusal, why, hint)


def _missing(
    parent_pk: str, child_ref: str, refusal: LearnError, *, parent: bool = False
) -> AttachRefused:
    """The AttachRefused for a course of the attach that Learn does not have."""
    if parent:
        return _refused(
            parent_pk,
            child_ref,
            refusal,
            f"the parent {parent_pk} was not found in Learn",
            "check the row's target in Learn, then run the same command again",
            missing="parent",
        )
    return _refused(
        parent_pk,
        child_ref,
        refusal,
        f"{child_ref} was not found in Learn",
        f"check it in child_course_ids (a courseId, externalId:X or _N_1), or {LEAVE_OUT}",
        missing="child",
    )


def _refused(
    parent_pk: str,
    child_ref: str,
    refusal: LearnError,
    why: str,
    hint: str,
    *,
    missing: str | None = None,
) -> AttachRefused:
    """The AttachRefused for Learn's `refusal`, with why and the next step."""
    return AttachRefused(
        refusal.status,
        refusal.learn_message,
        parent=parent_pk,
        child=child_ref,
        reason=why,
        hint=hint,
        missing=missing,
        code=refusal.code,
        endpoint=refusal.endpoint,
    )
