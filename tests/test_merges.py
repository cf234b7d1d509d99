"""Merged sections in the Learn client: attach a child (PUT .../children/{child}), list a
parent's children, read a course's family; what each answer means is the statuses table's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from harness import learn_refusal as refused
from harness import with_mock_client as run

from rollover.errors import AttachRefused, ExitCode, LearnNotFound, LearnServerError, MergeForbidden
from rollover.learn import CourseFamily, LearnClient

PARENT = "_5_1"
API = "/learn/api/public"
ATTACHED = {"id": "_9_1", "parentId": PARENT, "dataSourceId": "_2_1"}

Answer = httpx.Response | Exception


def course(pk: str, parent: str | None = None, *, has_children: bool = False) -> dict[str, Any]:
    """A course record as GET /v3/courses/{id} answers it, trimmed to the family's fields."""
    body: dict[str, Any] = {
        "id": pk,
        "courseId": f"C{pk}",
        "name": f"Course {pk}",
        "hasChildren": has_children,
    }
    if parent is not None:
        body["parentId"] = parent
    return body


class Learn:
    """A Learn answering each PUT with the next of `answers` (an exception is raised, as for a
    lost answer), and each GET of a course by the last segment of its path from `courses`."""

    def __init__(
        self, answers: list[Answer], courses: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.answers = answers
        self.courses = courses or {}
        self.requests: list[httpx.Request] = []

    def sent(self, method: str) -> list[httpx.Request]:
        """The requests Learn was sent with `method`."""
        return [request for request in self.requests if request.method == method]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "PUT":
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        key = request.url.path.rsplit("/", 1)[-1]
        if request.url.path.startswith(f"{API}/v3/courses/") and key in self.courses:
            return httpx.Response(200, json=self.courses[key])
        return httpx.Response(404, json={"status": 404, "message": "Course not found"})


# --- attach -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "segment"),
    [
        ("BIO-101-01", "courseId:BIO-101-01"),
        ("externalId:SIS.BIO.101.01", "externalId:SIS.BIO.101.01"),
        ("_12_1", "_12_1"),
        ("BIO 101/01", "courseId:BIO%20101%2F01"),
    ],
)
def test_attach_puts_the_child_under_the_parent_ignoring_enrolment_errors(
    child: str, segment: str
) -> None:
    """One PUT .../v1/courses/{parent}/children/{child}?ignoreEnrollmentErrors=true, no body,
    the child as Learn's paths take it (courseId: for a bare courseId), URL-quoted; a change."""
    learn = Learn([httpx.Response(201, json=ATTACHED)])

    async def attach(client: LearnClient) -> tuple[dict[str, Any], int]:
        return await client.attach_child(PARENT, child), client.changes_sent

    answer, changes = run(learn, attach)
    assert answer == ATTACHED and changes == 1
    [put] = learn.requests
    assert put.method == "PUT" and put.content == b""
    assert put.url.raw_path.decode() == (
        f"{API}/v1/courses/{PARENT}/children/{segment}?ignoreEnrollmentErrors=true"
    )


@pytest.mark.parametrize("status", [200, 204])
def test_any_success_to_the_attach_is_attached(status: int) -> None:
    """A 2xx other than Learn's documented 201 (a 204 without a body) is attached, as the
    statuses table says, not an error."""
    learn = Learn([httpx.Response(status)])
    assert run(learn, lambda client: client.attach_child(PARENT, "_12_1")) == {}


def test_attach_is_retried_after_a_502() -> None:
    """A 502 to the PUT (idempotent) is sent again, and the second answer's 201 is the result."""
    learn = Learn([refused(502, "Bad gateway"), httpx.Response(201, json=ATTACHED)])
    assert run(learn, lambda client: client.attach_child(PARENT, "BIO-101-01")) == ATTACHED
    assert len(learn.sent("PUT")) == 2


def test_attach_still_failing_after_its_retries_raises_the_servers_error() -> None:
    """5xx on every attempt ends as LearnServerError (the run stops, resumable), not a row's
    AttachRefused."""
    learn = Learn([refused(503, "busy") for _ in range(4)])
    with pytest.raises(LearnServerError):
        run(learn, lambda client: client.attach_child(PARENT, "BIO-101-01"))
    assert len(learn.sent("PUT")) == 4


def test_a_lost_attach_answer_retried_and_answered_409_is_attached() -> None:
    """The first PUT's answer is lost (timeout), the retry gets 409: the child is read, and
    being this parent's child already, the attach is done."""
    learn = Learn(
        [httpx.ReadTimeout("lost"), refused(409, "Course is already a child")],
        {"courseId:BIO-101-01": course("_9_1", PARENT)},
    )
    answer = run(learn, lambda client: client.attach_child(PARENT, "BIO-101-01"))
    assert answer == {"id": "_9_1", "parentId": PARENT}
    assert len(learn.sent("PUT")) == 2
    [read] = learn.sent("GET")
    assert read.url.params["fields"] == "id,courseId,name,parentId,hasChildren"


@pytest.mark.parametrize("status", [400, 409])
def test_a_child_of_another_parent_fails_the_attach_naming_both(status: int) -> None:
    """400/409 and the child's parentId is another course: AttachRefused names the child, the
    other parent by its courseId (as people know it) and Learn's message; no PUT again."""
    learn = Learn(
        [refused(status, "Child course already cross-listed")],
        {"_12_1": course("_12_1", "_7_1"), "_7_1": course("_7_1", has_children=True)},
    )
    with pytest.raises(AttachRefused) as raised:
        run(learn, lambda client: client.attach_child(PARENT, "_12_1"))
    error = raised.value
    assert (error.status, error.learn_message) == (status, "Child course already cross-listed")
    assert (error.child, error.parent, error.missing) == ("_12_1", PARENT, None)
    assert "_12_1 is already a section of another course, C_7_1 (_7_1), in Learn" in error.message
    assert "separate it from C_7_1 (_7_1) in Learn" in (error.hint or "")
    assert "child_course_ids" in (error.hint or "")
    assert len(learn.sent("PUT")) == 1


def test_a_child_that_is_a_parent_fails_the_attach() -> None:
    """A child with children of its own cannot become a child: Learn merges one level only."""
    learn = Learn(
        [refused(400, "Invalid child")],
        {"externalId:SIS.X": course("_12_1", has_children=True)},
    )
    with pytest.raises(AttachRefused, match="itself a parent of merged courses"):
        run(learn, lambda client: client.attach_child(PARENT, "externalId:SIS.X"))


def test_a_parent_that_is_a_child_fails_the_attach_naming_its_parent() -> None:
    """The child is free but the parent is another course's child: said so, from the parent."""
    learn = Learn(
        [refused(400, "Invalid parent")],
        {"_12_1": course("_12_1"), PARENT: course(PARENT, "_3_1")},
    )
    with pytest.raises(AttachRefused, match=r"the parent _5_1 is itself a child of _3_1"):
        run(learn, lambda client: client.attach_child(PARENT, "_12_1"))


def test_a_course_attached_to_itself_fails_the_attach() -> None:
    """The parent named as its own child: refused, and said so."""
    learn = Learn([refused(400, "Invalid child")], {PARENT: course(PARENT)})
    with pytest.raises(AttachRefused, match="cannot be its own child"):
        run(learn, lambda client: client.attach_child(PARENT, PARENT))


def test_a_refusal_without_a_reason_in_the_family_carries_learns_message() -> None:
    """Neither course explains the refusal: AttachRefused says Learn refused, with its words."""
    learn = Learn(
        [refused(409, "Something else")],
        {"_12_1": course("_12_1"), PARENT: course(PARENT)},
    )
    with pytest.raises(AttachRefused, match=r"Learn refused it \(409: Something else\)"):
        run(learn, lambda client: client.attach_child(PARENT, "_12_1"))


@pytest.mark.parametrize(
    ("message", "missing", "named"),
    [
        ("Parent course not found", "parent", "the parent _5_1 was not found"),
        ("Child course not found", "child", "BIO-101-01 was not found"),
        ("Parent or child course not found", "child", "BIO-101-01 was not found"),
        ("Not Found", "child", "BIO-101-01 was not found"),
    ],
)
def test_a_404_names_the_missing_course_the_child_unless_learn_says_the_parent(
    message: str, missing: str, named: str
) -> None:
    """404: the parent when Learn's message names the parent alone, else the child; no retry."""
    learn = Learn([refused(404, message)])
    with pytest.raises(AttachRefused) as raised:
        run(learn, lambda client: client.attach_child(PARENT, "BIO-101-01"))
    assert raised.value.missing == missing and named in raised.value.message
    assert len(learn.requests) == 1


def test_a_child_gone_when_read_after_a_409_is_missing() -> None:
    """A 409 whose child cannot be read after all: AttachRefused, the child missing."""
    learn = Learn([refused(409, "Conflict")])
    with pytest.raises(AttachRefused) as raised:
        run(learn, lambda client: client.attach_child(PARENT, "BIO-101-01"))
    assert raised.value.missing == "child"


def test_a_403_to_the_attach_names_the_entitlement_and_stops_the_run() -> None:
    """403: the integration user may not merge any course: MergeForbidden (exit 3, resumable)
    names the cross-listing entitlement to grant, instead of failing the row."""
    learn = Learn([refused(403, "Forbidden")])
    with pytest.raises(MergeForbidden) as raised:
        run(learn, lambda client: client.attach_child(PARENT, "BIO-101-01"))
    assert raised.value.status == 403 and raised.value.exit_code is ExitCode.STOPPED
    assert "system.course.cross-list.VIEW" in raised.value.message
    assert "grant it" in (raised.value.hint or "")


# --- children and family ------------------------------------------------------------------------


def test_children_follows_every_page() -> None:
    """GET .../v1/courses/{parent}/children, Learn's nextPage followed to the last page."""
    children = f"{API}/v1/courses/{PARENT}/children"

    def learn(request: httpx.Request) -> httpx.Response:
        assert request.url.path == children
        if request.url.params.get("offset") == "1":
            return httpx.Response(200, json={"results": [{"id": "_10_1", "parentId": PARENT}]})
        return httpx.Response(
            200,
            json={
                "results": [{"id": "_9_1", "parentId": PARENT}],
                "paging": {"nextPage": f"{children}?offset=1"},
            },
        )

    listed = run(learn, lambda client: client.children(PARENT))
    assert [child["id"] for child in listed] == ["_9_1", "_10_1"]


def test_a_course_that_is_not_a_parent_has_no_children() -> None:
    """Learn's 400 "Course not a cross-listed parent" is an empty list, after one call."""
    calls: list[httpx.Request] = []

    def learn(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return refused(400, "Course not a cross-listed parent")

    assert run(learn, lambda client: client.children(PARENT)) == []
    assert len(calls) == 1


def test_children_of_a_missing_course_is_not_found() -> None:
    """404 on the children list: the course does not exist, LearnNotFound."""
    with pytest.raises(LearnNotFound):
        run(lambda request: refused(404, "Course not found"), lambda c: c.children(PARENT))


def test_course_family_reads_ids_name_parent_and_children() -> None:
    """The family of a course named as the manifest names it: a child, and a free course."""
    learn = Learn(
        [],
        {
            "courseId:BIO-101-01": course("_9_1", PARENT),
            "_12_1": {"id": "_12_1", "courseId": "C", "name": "N", "hasChildren": True},
        },
    )

    async def families(client: LearnClient) -> list[CourseFamily]:
        return [
            await client.course_family("BIO-101-01"),
            await client.course_family("_12_1"),
        ]

    child, parent = run(learn, families)
    assert child == CourseFamily("_9_1", "C_9_1", "Course _9_1", PARENT, has_children=False)
    assert parent == CourseFamily("_12_1", "C", "N", None, has_children=True)


def test_course_family_of_a_missing_course_is_not_found() -> None:
    """A course Learn does not have: LearnNotFound, for `found` to read as None."""
    with pytest.raises(LearnNotFound):
        run(Learn([]), lambda client: client.course_family("NOPE"))
