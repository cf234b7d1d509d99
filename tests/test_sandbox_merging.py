"""Merged (cross-listed) courses in the sandbox: attach, read, separate, and what Learn refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from harness import FakeClock
from test_sandbox import API, bearer, copy_new, run

from rollover.sandbox import (
    LearnSandbox,
    SandboxConfig,
    SandboxConfigInvalid,
    SeedCourse,
    SeedUser,
    load_spec,
)

COURSES = f"{API}/v1/courses"


def merged_site(clock: FakeClock | None = None, **options: Any) -> LearnSandbox:
    """A site with a parent P, sections A and B (students s1..s3, s1 also in P), a lone course
    L, and O already the parent of section X."""
    users = [SeedUser(name) for name in ("s1", "s2", "s3", "s4", "t1")]
    courses = [
        SeedCourse("P", "Parent", students=["s1"]),
        SeedCourse("A", "Section A", students=["s1", "s2"]),
        SeedCourse("B", "Section B", students=["s3"]),
        SeedCourse("L", "Lone", external_id="lone-ext"),
        SeedCourse("O", "Other parent"),
        SeedCourse("X", "Section X", parent="O", students=["s4"]),
    ]
    config = SandboxConfig(courses=courses, users=users, **options)
    return LearnSandbox(config, clock=clock or FakeClock())


def attach_url(parent: str, child: str, *, ignore: bool = True) -> str:
    """The PUT that merges `child` into `parent` (refs in any id form)."""
    flag = "?ignoreEnrollmentErrors=true" if ignore else ""
    return f"{COURSES}/{parent}/children/{child}{flag}"


def assert_course_child(body: dict[str, Any]) -> None:
    """`body` is a CourseChild as the swagger defines it, with no field the spec lacks."""
    definitions = load_spec()["definitions"]
    jsonschema.Draft4Validator(
        {"$ref": "#/definitions/CourseChild", "definitions": definitions}
    ).validate(body)
    assert set(body) <= set(definitions["CourseChild"]["properties"]), body


async def members_of(
    client: httpx.AsyncClient, headers: dict[str, str], course: str
) -> dict[str, dict[str, Any]]:
    """The course's memberships by userId."""
    response = await client.get(f"{COURSES}/{course}/users", headers=headers)
    assert response.status_code == 200, response.text
    return {m["userId"]: m for m in response.json()["results"]}


def user_id(sandbox: LearnSandbox, user_name: str) -> str:
    """The primary id of a seeded user, read through the API's own lookup."""
    membership_owner = sandbox.teaching.find_user(f"userName:{user_name}")
    assert membership_owner is not None
    return str(membership_owner["id"])


def test_attach_answers_201_with_a_course_child_and_marks_both_courses() -> None:
    """PUT .../children/{child} answers 201 with a spec-shaped CourseChild; the parent then
    shows hasChildren and the child its parentId, by default and when asked by `fields`."""
    sandbox = merged_site()
    parent, child = sandbox.course("courseId:P"), sandbox.course("courseId:A")
    assert parent is not None and child is not None

    async def scenario(client: httpx.AsyncClient) -> Any:
        headers = await bearer(client)
        before = (await client.get(f"{COURSES}/courseId:A", headers=headers)).json()
        put = await client.put(attach_url("courseId:P", "courseId:A"), headers=headers)
        parent_view = await client.get(
            f"{API}/v3/courses/courseId:P?fields=id,hasChildren,parentId", headers=headers
        )
        child_view = await client.get(f"{COURSES}/courseId:A", headers=headers)
        return before, put, parent_view.json(), child_view.json()

    before, put, parent_view, child_view = run(sandbox, scenario)
    assert before["hasChildren"] is False and "parentId" not in before
    assert put.status_code == 201, put.text
    body = put.json()
    assert_course_child(body)
    assert body["id"] == child.primary_id and body["parentId"] == parent.primary_id
    assert body["childCourse"]["courseId"] == "A" and body["childCourse"]["parentId"] == (
        parent.primary_id
    )
    assert body["dataSourceId"] and body["created"]
    assert parent_view == {"id": parent.primary_id, "hasChildren": True}
    assert child_view["parentId"] == parent.primary_id and child_view["hasChildren"] is False
    assert sandbox.parent_of("courseId:A") is parent
    assert sandbox.children_of("courseId:P") == [child]


@pytest.mark.parametrize(
    ("parent_ref", "child_ref"),
    [
        ("courseId:P", "externalId:lone-ext"),
        ("externalId:P", "courseId:L"),
        ("uuid:{P}", "uuid:{L}"),
        ("{P_id}", "{L_id}"),
    ],
)
def test_both_ids_take_every_id_form(parent_ref: str, child_ref: str) -> None:
    """Parent and child are named by courseId:, externalId:, uuid: or the _N_1 primary id."""
    sandbox = merged_site()
    parent, lone = sandbox.course("courseId:P"), sandbox.course("courseId:L")
    assert parent is not None and lone is not None
    forms = {
        "P": parent.data["uuid"],
        "L": lone.data["uuid"],
        "P_id": parent.primary_id,
        "L_id": lone.primary_id,
    }

    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        url = attach_url(parent_ref.format(**forms), child_ref.format(**forms))
        return await client.put(url, headers=await bearer(client))

    assert run(sandbox, scenario).status_code == 201
    assert sandbox.parent_of(lone.primary_id) is parent


def test_unknown_courses_answer_404_and_a_bare_course_id_is_read_as_a_primary_id() -> None:
    """An unknown parent or child answers 404, and so does a bare courseId (Learn reads an
    unprefixed value as a primary id, as everywhere else in the sandbox); nothing is merged."""
    sandbox = merged_site()

    async def scenario(client: httpx.AsyncClient) -> list[int]:
        headers = await bearer(client)
        urls = [
            attach_url("courseId:NOPE", "courseId:L"),
            attach_url("courseId:P", "courseId:NOPE"),
            attach_url("P", "courseId:L"),
            attach_url("courseId:P", "L"),
        ]
        return [(await client.put(url, headers=headers)).status_code for url in urls]

    assert run(sandbox, scenario) == [404, 404, 404, 404]
    assert sandbox.children_of("courseId:P") == [] and sandbox.attach_log() == []


def test_one_level_rule_and_existing_links_answer_409_naming_the_courses() -> None:
    """Learn merges one level only: a parent cannot become a child, a child cannot become a
    parent, a child of another parent is refused, and one already a child of this parent
    answers 409 saying so; a course merged into itself is a 400."""
    sandbox = merged_site()

    async def scenario(client: httpx.AsyncClient) -> list[tuple[int, str]]:
        headers = await bearer(client)
        assert (
            await client.put(attach_url("courseId:P", "courseId:L"), headers=headers)
        ).is_success
        urls = [
            attach_url("courseId:P", "courseId:L"),  # again
            attach_url("courseId:P", "courseId:X"),  # X is O's child
            attach_url("courseId:O", "courseId:P"),  # P is a parent
            attach_url("courseId:L", "courseId:B"),  # L is a child
            attach_url("courseId:B", "courseId:B"),
        ]
        answers = [await client.put(url, headers=headers) for url in urls]
        return [(a.status_code, a.json()["message"]) for a in answers]

    answers = run(sandbox, scenario)
    assert answers == [
        (409, "Course L is already a child of course P"),
        (
            409,
            "Course X is already a child of another course (O); separate it from that parent first",
        ),
        (409, "Course P is a parent of cross-listed courses and cannot become a child"),
        (409, "Course L is a child of course P and cannot become a parent"),
        (400, "Course B cannot be merged into itself"),
    ]
    assert [c.course_id for c in sandbox.children_of("courseId:P")] == ["L"]
    assert len(sandbox.attach_log()) == 1


def test_duplicate_students_answer_409_unless_enrollment_errors_are_ignored() -> None:
    """A student enrolled in both parent and child, or in two children, makes the merge a 409
    that changes nothing; with ignoreEnrollmentErrors=true it merges and the parent keeps one
    membership of that student."""
    sandbox = merged_site()

    async def scenario(client: httpx.AsyncClient) -> Any:
        headers = await bearer(client)
        refused = await client.put(
            attach_url("courseId:P", "courseId:A", ignore=False), headers=headers
        )
        merged = await client.put(attach_url("courseId:P", "courseId:A"), headers=headers)
        # s2 now reaches P through A; enrolled in B too, B's merge finds s2 twice.
        await client.put(f"{COURSES}/courseId:B/users/userName:s2", json={}, headers=headers)
        second = await client.put(
            attach_url("courseId:P", "courseId:B", ignore=False), headers=headers
        )
        return refused, merged, second, await members_of(client, headers, "courseId:P")

    refused, merged, second, members = run(sandbox, scenario)
    s1, s2 = user_id(sandbox, "s1"), user_id(sandbox, "s2")
    assert refused.status_code == 409 and s1 in refused.json()["message"]
    assert "ignoreEnrollmentErrors=true" in refused.json()["message"]
    assert merged.status_code == 201
    assert second.status_code == 409 and s2 in second.json()["message"]
    assert sandbox.parent_of("courseId:B") is None
    assert "childCourseId" not in members[s1]  # the parent's own membership stays
    assert set(members) == {s1, s2}
    assert [event.ignore_enrollment_errors for event in sandbox.attach_log()] == [True]


def test_child_enrolments_reach_the_parent_marked_with_the_child_and_stay_in_sync() -> None:
    """The child's memberships are listed in the parent with the child's primary id as
    childCourseId; a later enrolment or role change in the child shows in the parent too."""
    sandbox = merged_site()
    child = sandbox.course("courseId:A")
    assert child is not None

    async def scenario(client: httpx.AsyncClient) -> Any:
        headers = await bearer(client)
        await client.put(attach_url("courseId:P", "courseId:A"), headers=headers)
        await client.put(
            f"{COURSES}/courseId:A/users/userName:t1",
            json={"courseRoleId": "TeachingAssistant"},
            headers=headers,
        )
        await client.patch(
            f"{COURSES}/courseId:A/users/userName:t1",
            json={"courseRoleId": "Grader"},
            headers=headers,
        )
        one = await client.get(f"{COURSES}/courseId:P/users/userName:s2", headers=headers)
        return one.json(), await members_of(client, headers, "courseId:P")

    one, members = run(sandbox, scenario)
    s2, t1 = user_id(sandbox, "s2"), user_id(sandbox, "t1")
    parent = sandbox.course("courseId:P")
    assert parent is not None
    assert one["childCourseId"] == child.primary_id and one["courseId"] == parent.primary_id
    assert members[s2]["childCourseId"] == child.primary_id
    assert members[t1]["courseRoleId"] == "Grader"
    assert members[t1]["childCourseId"] == child.primary_id


def test_children_list_one_child_and_the_cross_list_set() -> None:
    """GET .../children is a 400 "Course not a cross-listed parent" before any merge, then the
    children in attachment order (childCourse with expand=childCourse); GET one child; the
    crossListSet is the whole set from the parent or a child, and empty for a lone course."""
    sandbox = merged_site()

    async def scenario(client: httpx.AsyncClient) -> dict[str, httpx.Response]:
        headers = await bearer(client)
        got = {"before": await client.get(f"{COURSES}/courseId:P/children", headers=headers)}
        for child in ("courseId:B", "courseId:L"):
            await client.put(attach_url("courseId:P", child), headers=headers)
        get = client.get
        got["list"] = await get(f"{COURSES}/courseId:P/children", headers=headers)
        got["expanded"] = await get(
            f"{COURSES}/courseId:P/children?expand=childCourse", headers=headers
        )
        got["one"] = await get(f"{COURSES}/courseId:P/children/courseId:L", headers=headers)
        got["not_child"] = await get(f"{COURSES}/courseId:P/children/courseId:A", headers=headers)
        got["set_of_child"] = await get(f"{COURSES}/courseId:B/crossListSet", headers=headers)
        got["set_of_parent"] = await get(f"{COURSES}/courseId:P/crossListSet", headers=headers)
        got["set_of_lone"] = await get(f"{COURSES}/courseId:A/crossListSet", headers=headers)
        return got

    got = run(sandbox, scenario)
    assert got["before"].status_code == 400
    assert got["before"].json()["message"] == "Course not a cross-listed parent"
    listed = got["list"].json()["results"]
    b, lone = sandbox.course("courseId:B"), sandbox.course("courseId:L")
    assert b is not None and lone is not None
    assert [link["id"] for link in listed] == [b.primary_id, lone.primary_id]
    assert all("childCourse" not in link for link in listed)
    expanded = got["expanded"].json()["results"]
    assert [link["childCourse"]["courseId"] for link in expanded] == ["B", "L"]
    for link in [*listed, *expanded, got["one"].json()]:
        assert_course_child(link)
    assert got["one"].json()["id"] == lone.primary_id
    assert got["not_child"].status_code == 404
    assert got["set_of_child"].json()["results"] == listed
    assert got["set_of_parent"].json()["results"] == listed
    assert got["set_of_lone"].json() == {"results": []}


def test_separation_removes_or_keeps_the_child_enrolments_and_unmarks_the_courses() -> None:
    """DELETE .../children/{child} answers 204: completeSeparation removes the child's
    enrolments from the parent, enrollmentsInBoth leaves them unavailable; once the last child
    goes the parent has no children again. An unknown separationStyle is a 400."""
    sandbox = merged_site()

    async def scenario(client: httpx.AsyncClient) -> Any:
        headers = await bearer(client)
        for child in ("courseId:A", "courseId:B"):
            await client.put(attach_url("courseId:P", child), headers=headers)
        bad = await client.delete(
            f"{COURSES}/courseId:P/children/courseId:A?separationStyle=halfway", headers=headers
        )
        complete = await client.delete(f"{COURSES}/courseId:P/children/courseId:A", headers=headers)
        both = await client.delete(
            f"{COURSES}/courseId:P/children/courseId:B?separationStyle=enrollmentsInBoth",
            headers=headers,
        )
        again = await client.delete(f"{COURSES}/courseId:P/children/courseId:B", headers=headers)
        parent = (await client.get(f"{COURSES}/courseId:P", headers=headers)).json()
        child = (await client.get(f"{COURSES}/courseId:B", headers=headers)).json()
        children = await client.get(f"{COURSES}/courseId:P/children", headers=headers)
        members = await members_of(client, headers, "courseId:P")
        return bad, complete, both, again, parent, child, children, members

    bad, complete, both, again, parent, child, children, members = run(sandbox, scenario)
    assert bad.status_code == 400
    assert (complete.status_code, complete.content) == (204, b"")
    assert both.status_code == 204 and again.status_code == 404
    assert parent["hasChildren"] is False and "parentId" not in child
    assert children.status_code == 400
    s1, s2, s3 = (user_id(sandbox, name) for name in ("s1", "s2", "s3"))
    assert s2 not in members  # A's own student, completely separated
    assert members[s1]["availability"]["available"] == "Yes"  # the parent's own
    assert members[s3]["availability"]["available"] == "No" and "childCourseId" not in members[s3]
    assert sandbox.children_of("courseId:P") == []


def test_the_attach_log_says_when_each_attach_came_and_whether_the_copy_had_completed() -> None:
    """Learn lets a child be attached while the parent's copy runs; the attach log records the
    time of every attach and whether the copy into the parent had completed by then."""
    clock = FakeClock()
    sandbox = merged_site(clock, copy_seconds=10.0)

    async def scenario(client: httpx.AsyncClient) -> list[int]:
        headers = await bearer(client)
        assert (await copy_new(client, headers, "A", "NEW")).status_code == 202
        early = await client.put(attach_url("courseId:NEW", "courseId:B"), headers=headers)
        clock.advance(30)
        late = await client.put(attach_url("courseId:NEW", "courseId:L"), headers=headers)
        return [early.status_code, late.status_code]

    start = clock.now
    assert run(sandbox, scenario) == [201, 201]
    log = sandbox.attach_log()
    assert [(e.child_course_id, e.at, e.copy_complete) for e in log] == [
        ("B", start, False),
        ("L", start + 30, True),
    ]
    assert sandbox.record.summary()["attachments_before_copy_complete"] == 1


def test_a_lost_attach_answer_is_applied_and_a_resend_finds_the_child_attached() -> None:
    """With drop_attach_responses = [2] the second attachment is made but its answer is a
    gateway's 504 page; sending it again answers 409 "already a child of course P"."""
    sandbox = merged_site(drop_attach_responses=[2])

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        headers = await bearer(client)
        urls = [attach_url("courseId:P", c) for c in ("courseId:B", "courseId:L", "courseId:L")]
        return [await client.put(url, headers=headers) for url in urls]

    first, lost, resent = run(sandbox, scenario)
    assert first.status_code == 201
    assert lost.status_code == 504 and lost.headers["content-type"].startswith("text/plain")
    assert sandbox.parent_of("courseId:L") is sandbox.course("courseId:P")
    assert resent.status_code == 409
    assert resent.json()["message"] == "Course L is already a child of course P"
    assert [e.answer_lost for e in sandbox.attach_log()] == [False, True]
    assert sandbox.record.faults["dropped_attach_response"] == 1


def test_merged_sets_survive_to_state_and_a_journal_replay(tmp_path: Path) -> None:
    """Links, replicated enrolments and the attach log come back from to_state/from_state,
    and from a state file whose journal holds the attach (the .sandbox.json of run --sandbox)."""
    clock = FakeClock()
    sandbox = merged_site(clock)
    state = tmp_path / "learn.sandbox.json"

    async def scenario(client: httpx.AsyncClient) -> int:
        response = await client.put(
            attach_url("courseId:P", "courseId:A"), headers=await bearer(client)
        )
        return response.status_code

    assert run(sandbox, scenario, state_path=state) == 201
    for restored in (
        LearnSandbox.from_state(sandbox.to_state(), clock),
        LearnSandbox.load(state, clock),
    ):
        assert restored.to_state() == sandbox.to_state()
        assert restored.parent_of("courseId:A") is restored.course("courseId:P")
        assert restored.parent_of("courseId:X") is restored.course("courseId:O")
        assert restored.attach_log() == sandbox.attach_log()
        assert restored.membership("courseId:P", "userName:s2") == sandbox.membership(
            "courseId:P", "userName:s2"
        )


def test_a_state_saved_before_merged_courses_loads_with_none() -> None:
    """A state from before merged courses existed (no crosslist, no attachments) loads as a
    site where nothing is merged."""
    state = LearnSandbox(SandboxConfig(), clock=FakeClock()).to_state()
    del state["crosslist"]
    del state["record"]["attachments"]
    restored = LearnSandbox.from_state(state, FakeClock())
    assert restored.attach_log() == [] and restored.children_of("courseId:BIO101-SP26") == []


def test_a_seeded_child_and_its_students_reach_its_parent() -> None:
    """A [[courses]] entry with `parent` starts merged, its `students` enrolled as Student and
    replicated into the parent."""
    sandbox = merged_site()
    other, child = sandbox.course("courseId:O"), sandbox.course("courseId:X")
    assert other is not None and child is not None
    assert sandbox.parent_of("courseId:X") is other
    assert other.data["hasChildren"] is True and child.data["parentId"] == other.primary_id
    in_child = sandbox.membership("courseId:X", "userName:s4")
    in_parent = sandbox.membership("courseId:O", "userName:s4")
    assert in_child is not None and in_child["courseRoleId"] == "Student"
    assert in_parent is not None and in_parent["childCourseId"] == child.primary_id
    assert sandbox.attach_log() == []  # seeded, not attached by a call


@pytest.mark.parametrize(
    ("courses", "message"),
    [
        (
            [{"course_id": "A", "name": "A", "students": ["ghost"]}],
            '[[courses]] "A" students = "ghost": expected the user_name of a [[users]] entry',
        ),
        (
            [{"course_id": "A", "name": "A", "parent": "NOPE"}],
            '[[courses]] "A" parent = "NOPE": expected the course_id of another [[courses]] entry',
        ),
        (
            [{"course_id": "A", "name": "A", "parent": "A"}],
            '[[courses]] "A" parent = "A": expected the course_id of another [[courses]] entry',
        ),
        (
            [
                {"course_id": "A", "name": "A"},
                {"course_id": "B", "name": "B", "parent": "A"},
                {"course_id": "C", "name": "C", "parent": "B"},
            ],
            '[[courses]] "C" parent = "B": expected a course that is no child itself (it is '
            "a child of 'A'): Learn merges one level only",
        ),
        (
            [{"course_id": "A", "name": "A", "students": "s1"}],
            '[[courses]] #1 students = "s1": expected a list of texts in quotes',
        ),
    ],
)
def test_seed_mistakes_in_merged_courses_name_the_key_and_value(
    courses: list[dict[str, Any]], message: str
) -> None:
    """A seeded student who is no user, a parent that is unknown, the course itself or a
    child: a SandboxConfigInvalid naming the key and the value."""
    with pytest.raises(SandboxConfigInvalid) as caught:
        SandboxConfig.from_dict({"courses": courses, "users": [{"user_name": "s1"}]})
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(("value", "shown"), [([0], "0"), (["1"], '["1"]'), (3, "3")])
def test_drop_attach_responses_takes_attachment_numbers_from_one(value: Any, shown: str) -> None:
    """drop_attach_responses is a list of whole numbers, each at least 1."""
    with pytest.raises(SandboxConfigInvalid) as caught:
        SandboxConfig.from_dict({"drop_attach_responses": value})
    assert str(caught.value).startswith(f"drop_attach_responses = {shown}: expected ")


def test_the_app_serves_merged_courses_from_a_seed_file(tmp_path: Path) -> None:
    """A TOML seed file's `students`, `parent` and `drop_attach_responses` reach the site."""
    seed = tmp_path / "seed.toml"
    seed.write_text(
        "drop_attach_responses = [1]\n"
        '[[users]]\nuser_name = "s1"\n'
        '[[courses]]\ncourse_id = "P"\nname = "P"\n'
        '[[courses]]\ncourse_id = "C"\nname = "C"\nparent = "P"\nstudents = ["s1"]\n'
        '[[courses]]\ncourse_id = "D"\nname = "D"\n',
        encoding="utf-8",
    )
    sandbox = LearnSandbox(SandboxConfig.from_toml(seed), clock=FakeClock())

    async def scenario(client: httpx.AsyncClient) -> int:
        response = await client.put(
            attach_url("courseId:P", "courseId:D"), headers=await bearer(client)
        )
        return response.status_code

    assert run(sandbox, scenario) == 504
    assert [c.course_id for c in sandbox.children_of("courseId:P")] == ["C", "D"]
    assert sandbox.membership("courseId:P", "userName:s1") is not None
