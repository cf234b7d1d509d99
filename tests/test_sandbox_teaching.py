"""The sandbox's teaching side: users, enrolments and the 15% rule, content trees and gradebooks."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from rollover.sandbox import (
    BUILTIN_ROLES,
    FOLDER,
    MEMBERSHIP_PATH,
    CopyTask,
    LearnSandbox,
    SandboxConfig,
    SeedCourse,
    SeedTerm,
    SeedUser,
    content_plan,
    create_app,
    load_spec,
    request_body_schema,
    seeded_counts,
    validate_request_body,
)

API = "/learn/api/public"
TOKEN_URL = f"{API}/v1/oauth2/token"
KEY, SECRET = "rollover-sandbox-key", "rollover-sandbox-secret"
ENROL = {"courseRoleId": "Instructor", "availability": {"available": "Yes"}}

USERS = [
    SeedUser("jane.doe", external_id="E100"),
    SeedUser("bob"),
    SeedUser("root", system_admin=True),
]
COURSES = [
    SeedCourse("SRC-1", "Source one", contents=12, columns=5),
    SeedCourse("SRC-2", "Source two", contents=7, columns=0),
    SeedCourse("SHELL-1", "Shell one", shell=True),
    SeedCourse("SHELL-2", "Shell two", shell=True),
]

Scenario = Callable[[httpx.AsyncClient], Awaitable[Any]]


def make(clock: FakeClock, **options: Any) -> LearnSandbox:
    """A sandbox with the users and courses above, changed by `options`, on `clock`."""
    options = {"users": USERS, "courses": COURSES, "terms": [], **options}
    return LearnSandbox(SandboxConfig(**options), clock=clock)


def run(sandbox: LearnSandbox, scenario: Scenario, **app_options: Any) -> Any:
    """Run `scenario` against the sandbox app in-process."""

    async def main() -> Any:
        transport = httpx.ASGITransport(app=create_app(sandbox, **app_options))
        async with httpx.AsyncClient(transport=transport, base_url="http://learn.test") as client:
            return await scenario(client)

    return asyncio.run(main())


async def bearer(client: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers carrying the site's bearer token."""
    response = await client.post(
        TOKEN_URL, auth=(KEY, SECRET), data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def member_url(course: str, user: str) -> str:
    """The membership path of `user` in `course`."""
    return f"{API}/v1/courses/{course}/users/{user}"


async def copy(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    source: str,
    target: dict[str, str],
    options: dict[str, Any] | None = None,
) -> httpx.Response:
    """POST a copy of courseId `source` into `target`; with `options` as its `copy` object."""
    body: dict[str, Any] = {"targetCourse": target}
    if options is not None:
        body["copy"] = options
    response = await client.post(
        f"{API}/v2/courses/courseId:{source}/copy", json=body, headers=headers
    )
    assert response.status_code == 202, response.text
    return response


async def every_page(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, params: dict[str, str]
) -> tuple[list[dict[str, Any]], int]:
    """Every result of a paged list, following nextPage; and how many pages it took."""
    results: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        answer = await client.get(next_url, params=params if pages == 0 else None, headers=headers)
        assert answer.status_code == 200, answer.text
        pages += 1
        results += answer.json()["results"]
        next_url = answer.json().get("paging", {}).get("nextPage")
        if next_url is not None:
            assert next_url.startswith(f"{API}/")
    return results, pages


# -- users ---------------------------------------------------------------------------------------


def test_user_is_found_by_every_id_form_and_unknown_ones_are_404() -> None:
    """GET /v1/users/{id} finds a user by _N_1, userName:, externalId: and uuid:; else 404."""
    sandbox = make(FakeClock())
    jane = sandbox.teaching.find_user("userName:jane.doe")
    assert jane is not None

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        for ref in (jane["id"], "userName:jane.doe", "externalId:E100", f"uuid:{jane['uuid']}"):
            found = await client.get(f"{API}/v1/users/{ref}", headers=headers)
            assert found.status_code == 200, ref
            assert found.json() == jane
            assert "x-rate-limit-remaining" in found.headers
        assert set(jane) >= {"id", "uuid", "userName", "externalId", "name"}
        assert jane["name"] == {"given": "Jane", "family": "Doe"}
        bob = (await client.get(f"{API}/v1/users/externalId:bob", headers=headers)).json()
        assert bob["userName"] == "bob", "a user's externalId defaults to the userName"
        trimmed = await client.get(
            f"{API}/v1/users/userName:bob", params={"fields": "id,name.given"}, headers=headers
        )
        assert trimmed.json() == {"id": bob["id"], "name": {"given": "Bob"}}
        for ref in ("userName:nobody", "jane.doe", "_99_1", "externalId:jane.doe"):
            missing = await client.get(f"{API}/v1/users/{ref}", headers=headers)
            assert missing.status_code == 404, ref
            assert missing.json()["status"] == 404 and missing.json()["message"]

    run(sandbox, scenario)
    assert sandbox.record.calls["GET /v1/users/{id}"] == 4 + 2 + 4


def test_users_come_from_toml_and_names_must_be_unique(tmp_path: Path) -> None:
    """[[users]], roles, shells_with_content and partial_copy_rate load from TOML and round-trip."""
    path = tmp_path / "sandbox.toml"
    path.write_text(
        'roles = ["Mentor"]\nshells_with_content = ["S-1"]\npartial_copy_rate = 0.25\n'
        '[[users]]\nuser_name = "ada"\nexternal_id = "E1"\n'
        '[[users]]\nuser_name = "root"\nsystem_admin = true\n'
        '[[courses]]\ncourse_id = "S-1"\nname = "S"\nshell = true\ncontents = 3\n',
        encoding="utf-8",
    )
    config = SandboxConfig.from_toml(path)
    assert config.users == [SeedUser("ada", "E1"), SeedUser("root", system_admin=True)]
    assert config.roles == ["Mentor"] and config.shells_with_content == ["S-1"]
    assert config.courses == [SeedCourse("S-1", "S", shell=True, contents=3)]
    assert SandboxConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match=r"\[\[users\]\] #1 admin = true: unknown key"):
        SandboxConfig.from_dict({"users": [{"user_name": "a", "admin": True}]})
    with pytest.raises(
        ValueError, match=r"partial_copy_rate = 1\.5: expected a number from 0 to 1"
    ):
        SandboxConfig(partial_copy_rate=1.5)
    with pytest.raises(ValueError, match="contents = -1: expected a whole number, at least 0"):
        SeedCourse("X", "X", contents=-1)
    with pytest.raises(ValueError, match="two users are named 'ada'"):
        LearnSandbox(SandboxConfig(users=[SeedUser("ada"), SeedUser("ada", "other")]))
    with pytest.raises(ValueError, match="two users have the externalId 'E1'"):
        LearnSandbox(SandboxConfig(users=[SeedUser("ada", "E1"), SeedUser("bea", "E1")]))


# -- enrolments ----------------------------------------------------------------------------------


def test_enrolment_answers_201_then_409_and_reads_back_in_every_course_id_form() -> None:
    """PUT enrols (201, ids as primary ids), a second PUT is 409, GET reads it by any id form."""
    clock = FakeClock()
    sandbox = make(clock)
    course = sandbox.course("courseId:SHELL-1")
    jane = sandbox.teaching.find_user("userName:jane.doe")
    assert course is not None and jane is not None

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        created = await client.put(
            member_url("courseId:SHELL-1", "userName:jane.doe"), json=ENROL, headers=headers
        )
        assert created.status_code == 201
        membership = created.json()
        assert membership["userId"] == jane["id"] and membership["courseId"] == course.primary_id
        assert membership["courseRoleId"] == "Instructor"
        assert membership["availability"] == {"available": "Yes"} and "created" in membership
        again = await client.put(
            member_url(course.primary_id, jane["id"]), json=ENROL, headers=headers
        )
        assert again.status_code == 409 and again.json()["message"] == "User already enrolled"
        for course_ref in (
            course.primary_id,
            "courseId:SHELL-1",
            "externalId:SHELL-1",
            f"uuid:{course.data['uuid']}",
        ):
            found = await client.get(member_url(course_ref, "externalId:E100"), headers=headers)
            assert found.status_code == 200 and found.json() == membership
        trimmed = await client.get(
            member_url(course.primary_id, jane["id"]),
            params={"fields": "courseRoleId"},
            headers=headers,
        )
        assert trimmed.json() == {"courseRoleId": "Instructor"}
        nobody = await client.get(member_url(course.primary_id, "userName:bob"), headers=headers)
        assert nobody.status_code == 404

    run(sandbox, scenario)
    assert sandbox.membership("courseId:SHELL-1", "userName:jane.doe") is not None
    assert sandbox.membership("courseId:SHELL-1", "userName:bob") is None
    assert sandbox.membership("courseId:NOPE", "userName:bob") is None
    assert [(e.course_id, e.role, e.percent, e.lost) for e in sandbox.record.enrolments] == [
        ("SHELL-1", "Instructor", None, False)
    ]


def test_enrolment_refusals_404_403_and_400() -> None:
    """404 for an unknown course, user or role; 403 for a system admin; 400 for bad bodies."""
    sandbox = make(FakeClock(), roles=["Mentor"])

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        url = member_url("courseId:SHELL-1", "userName:bob")
        refused = {
            member_url("courseId:NOPE", "userName:bob"): (ENROL, 404),
            member_url("courseId:SHELL-1", "userName:nobody"): (ENROL, 404),
            member_url("SHELL-1", "userName:bob"): (ENROL, 404),
            member_url("courseId:SHELL-1", "userName:root"): (ENROL, 403),
        }
        for target, (body, status) in refused.items():
            answer = await client.put(target, json=body, headers=headers)
            assert answer.status_code == status, target
            assert answer.json()["message"]
        unknown_role = await client.put(url, json={"courseRoleId": "Dean"}, headers=headers)
        assert unknown_role.status_code == 404
        assert "role" in unknown_role.json()["message"].lower()
        bodies: list[Any] = [["Instructor"], "Instructor", {"courseRoleId": 7}, {"availability": 1}]
        for body in bodies:
            bad = await client.put(url, json=body, headers=headers)
            assert bad.status_code == 400, body
        assert (await client.put(url, content=b"{nope", headers=headers)).status_code == 400
        assert (await client.put(url, headers=headers)).status_code == 400
        custom = await client.put(url, json={"courseRoleId": "Mentor"}, headers=headers)
        assert custom.status_code == 201 and custom.json()["courseRoleId"] == "Mentor"
        student = await client.put(
            member_url("courseId:SHELL-2", "userName:bob"), json={}, headers=headers
        )
        assert student.json()["courseRoleId"] == "Student", "Learn's default role"

    run(sandbox, scenario)
    assert len(sandbox.record.enrolments) == 2


@pytest.mark.parametrize("role", BUILTIN_ROLES)
def test_every_builtin_role_can_be_given(role: str) -> None:
    """Each of Learn's seven built-in course roles enrols a user."""
    sandbox = make(FakeClock())

    async def scenario(client: httpx.AsyncClient) -> int:
        answer = await client.put(
            member_url("courseId:SHELL-1", "userName:bob"),
            json={"courseRoleId": role},
            headers=await bearer(client),
        )
        return answer.status_code

    assert run(sandbox, scenario) == 201


def test_patch_changes_the_role_of_a_member_only() -> None:
    """PATCH changes a member's role and availability (200); a non-member is 404."""
    clock = FakeClock()
    sandbox = make(clock)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        url = member_url("courseId:SHELL-1", "userName:bob")
        not_member = await client.patch(url, json={"courseRoleId": "Grader"}, headers=headers)
        assert not_member.status_code == 404
        created = (await client.put(url, json={"courseRoleId": "Student"}, headers=headers)).json()
        clock.advance(60)
        patched = await client.patch(
            url,
            json={"courseRoleId": "TeachingAssistant", "availability": {"available": "No"}},
            headers=headers,
        )
        assert patched.status_code == 200
        assert patched.json()["courseRoleId"] == "TeachingAssistant"
        assert patched.json()["availability"] == {"available": "No"}
        assert patched.json()["created"] == created["created"] != patched.json()["modified"]
        assert (await client.get(url, headers=headers)).json() == patched.json()
        bad_role = await client.patch(url, json={"courseRoleId": "Dean"}, headers=headers)
        assert bad_role.status_code == 400
        assert (await client.patch(url, json=[1], headers=headers)).status_code == 400

    run(sandbox, scenario)
    found = sandbox.membership("courseId:SHELL-1", "userName:bob")
    assert found is not None and found["courseRoleId"] == "TeachingAssistant"


def test_a_disabled_member_is_still_a_member_until_patched_available() -> None:
    """A membership made unavailable stays a member: a PUT answers 409 and changes nothing (it
    stays No); a PATCH of role and availability Yes makes it available again."""
    sandbox = make(FakeClock())

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        url = member_url("courseId:SHELL-1", "userName:bob")
        disabled = {"courseRoleId": "Grader", "availability": {"available": "No"}}
        assert (await client.put(url, json=disabled, headers=headers)).status_code == 201
        assert (await client.put(url, json=ENROL, headers=headers)).status_code == 409
        fields = {"fields": "courseRoleId,availability.available"}
        still = await client.get(url, params=fields, headers=headers)
        assert still.json() == {"courseRoleId": "Grader", "availability": {"available": "No"}}
        again = await client.patch(url, json=ENROL, headers=headers)
        assert again.status_code == 200
        assert (await client.get(url, params=fields, headers=headers)).json() == ENROL

    run(sandbox, scenario)


def test_memberships_are_listed_paged_with_a_default_page_of_100() -> None:
    """GET /courses/{id}/users pages by limit with host-relative nextPage; 100 a page by default."""
    users = [SeedUser(f"u{n:03d}") for n in range(103)]
    sandbox = make(FakeClock(), users=users)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        for n, user in enumerate(users):
            role = "Instructor" if n < 2 else "Student"
            await client.put(
                member_url("courseId:SRC-1", f"userName:{user.user_name}"),
                json={"courseRoleId": role},
                headers=headers,
            )
        url = f"{API}/v1/courses/courseId:SRC-1/users"
        first = (await client.get(url, headers=headers)).json()
        assert len(first["results"]) == 100
        course = sandbox.course("courseId:SRC-1")
        assert course is not None
        assert first["paging"]["nextPage"] == (
            f"{API}/v1/courses/{course.primary_id}/users?limit=100&offset=100"
        )
        listed, pages = await every_page(client, headers, url, {"limit": "25"})
        assert pages == 5 and len(listed) == 103
        assert [m["userId"] for m in listed] == [
            sandbox.teaching.find_user(f"userName:{u.user_name}")["id"]  # type: ignore[index]
            for u in users
        ]
        teachers, _ = await every_page(client, headers, url, {"role": "Instructor"})
        assert len(teachers) == 2
        fields = await client.get(url, params={"limit": "1", "fields": "userId"}, headers=headers)
        assert list(fields.json()["results"][0]) == ["userId"]
        missing = await client.get(f"{API}/v1/courses/courseId:NOPE/users", headers=headers)
        assert missing.status_code == 404

    run(sandbox, scenario)


# -- the 15% rule --------------------------------------------------------------------------------


def test_an_enrolment_below_15_percent_is_lost_at_15_and_one_at_or_above_is_kept() -> None:
    """Enrolled at 5% of the target's copy: there until 15%, then gone; at 20%: kept."""
    clock = FakeClock()
    # 99 seconds of copy: percentComplete is the whole seconds elapsed.
    sandbox = make(clock, copy_seconds=99.0)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        location = (await copy(client, headers, "SRC-1", {"courseId": "NEW"})).headers["location"]
        early = member_url("courseId:NEW", "userName:bob")
        late = member_url("courseId:NEW", "userName:jane.doe")
        clock.advance(5.5)
        assert (await client.get(location, headers=headers)).json()["percentComplete"] == 5
        assert (await client.put(early, json=ENROL, headers=headers)).status_code == 201
        clock.advance(8)  # 13.5%
        assert (await client.get(early, headers=headers)).status_code == 200
        assert (await client.put(early, json=ENROL, headers=headers)).status_code == 409
        clock.advance(2)  # 15.5%: the membership step has run
        assert (await client.get(location, headers=headers)).json()["percentComplete"] == 15
        assert (await client.get(early, headers=headers)).status_code == 404
        clock.advance(5)  # 20.5%
        assert (await client.put(late, json=ENROL, headers=headers)).status_code == 201
        clock.advance(100)
        assert (await client.get(location, headers=headers)).status_code == 303
        assert (await client.get(late, headers=headers)).status_code == 200
        assert (await client.get(early, headers=headers)).status_code == 404
        listed = (await client.get(f"{API}/v1/courses/courseId:NEW/users", headers=headers)).json()
        jane = sandbox.teaching.find_user("userName:jane.doe")
        assert [m["userId"] for m in listed["results"]] == [jane["id"]]  # type: ignore[index]
        again = await client.put(early, json=ENROL, headers=headers)
        assert again.status_code == 201, "a lost enrolment can be made again"

    run(sandbox, scenario)
    events = [(e.user_primary_id, e.percent, e.lost) for e in sandbox.record.enrolments]
    bob, jane = (sandbox.teaching.find_user(f"userName:{n}") for n in ("bob", "jane.doe"))
    assert bob is not None and jane is not None
    assert events == [(bob["id"], 5, True), (jane["id"], 20, False), (bob["id"], None, False)]
    assert sandbox.record.summary()["enrolments_lost"] == 1
    assert sandbox.membership("courseId:NEW", "userName:bob") is not None


def test_an_enrolment_into_a_queued_copy_is_lost_when_it_reaches_15_percent() -> None:
    """A target whose copy still waits for a slot is at 0%: its enrolment is lost later."""
    clock = FakeClock()
    sandbox = make(clock, copy_seconds=10.0, slots=1)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        await copy(client, headers, "SRC-1", {"courseId": "FIRST"})
        queued = await copy(client, headers, "SRC-1", {"courseId": "SECOND"})
        assert (await client.get(queued.headers["location"], headers=headers)).json()[
            "status"
        ] == "Queued"
        url = member_url("courseId:SECOND", "userName:bob")
        assert (await client.put(url, json=ENROL, headers=headers)).status_code == 201
        clock.advance(10 + 1.4)  # SECOND runs from 10 s: 14%
        assert (await client.get(url, headers=headers)).status_code == 200
        clock.advance(0.2)  # 16%
        assert (await client.get(url, headers=headers)).status_code == 404

    run(sandbox, scenario)
    assert [(e.course_id, e.percent, e.lost) for e in sandbox.record.enrolments] == [
        ("SECOND", 0, True)
    ]


def test_an_enrolment_into_an_existing_course_below_15_percent_of_its_copy_is_lost() -> None:
    """The rule holds for a copy into an existing shell too; a member from before stays."""
    clock = FakeClock()
    sandbox = make(clock, copy_seconds=100.0)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        before = member_url("courseId:SHELL-1", "userName:jane.doe")
        during = member_url("courseId:SHELL-1", "userName:bob")
        assert (await client.put(before, json=ENROL, headers=headers)).status_code == 201
        await copy(client, headers, "SRC-1", {"id": "courseId:SHELL-1"}, {"contentAreas": True})
        clock.advance(10)
        assert (await client.put(during, json=ENROL, headers=headers)).status_code == 201
        clock.advance(10)
        assert (await client.get(during, headers=headers)).status_code == 404
        assert (await client.get(before, headers=headers)).status_code == 200

    run(sandbox, scenario)
    assert [e.lost for e in sandbox.record.enrolments] == [False, True]


@settings(max_examples=200, deadline=None)
@given(start=st.floats(0, 2e9), duration=st.floats(0, 1e5), percent=st.integers(0, 100))
def test_the_moment_a_copy_reaches_a_percent_agrees_with_what_it_reports(
    start: float, duration: float, percent: int
) -> None:
    """time_reaching(p) is the first instant percent_at reports p or more, to the float."""
    task = CopyTask("_1_1", "_1_1", "S", "_2_1", False, start, start, start + duration, "Complete")
    moment = task.time_reaching(percent)
    assert task.percent_at(moment) >= percent
    if moment > task.start:
        assert task.percent_at(math.nextafter(moment, -math.inf)) < percent
    assert task.view(moment)["percentComplete"] == task.percent_at(moment)


# -- content and gradebook -----------------------------------------------------------------------


def test_contents_list_the_top_level_every_level_and_a_folders_children() -> None:
    """Top level by default; recursive=true lists each folder followed by what it holds."""
    sandbox = make(FakeClock())
    course = sandbox.course("courseId:SRC-1")
    assert course is not None

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        url = f"{API}/v1/courses/courseId:SRC-1/contents"
        top = (await client.get(url, headers=headers)).json()["results"]
        every = (await client.get(url, params={"recursive": "true"}, headers=headers)).json()
        items = every["results"]
        assert len(items) == 12 == sandbox.content_count("courseId:SRC-1")
        assert "paging" not in every
        assert top == [item for item in items if "parentId" not in item]
        assert len(top) < len(items), "some items sit in folders"
        by_id = {item["id"]: item for item in items}
        seen: set[str] = set()
        for item in items:
            assert set(item) >= {"id", "title", "hasChildren", "contentHandler"}
            if "parentId" in item:
                assert item["parentId"] in seen, "a folder comes before what it holds"
                assert by_id[item["parentId"]]["contentHandler"]["id"] == FOLDER
            seen.add(item["id"])
        folders = [item for item in items if item["contentHandler"]["id"] == FOLDER]
        empty = [folder for folder in folders if not folder["hasChildren"]]
        assert empty, "an empty folder has no children"
        assert any(by_id[i["parentId"]].get("parentId") for i in items if "parentId" in i), (
            "folders nest"
        )
        for folder in folders:
            children_url = f"{url}/{folder['id']}/children"
            children = (await client.get(children_url, headers=headers)).json()["results"]
            assert children == [i for i in items if i.get("parentId") == folder["id"]]
            assert bool(children) == folder["hasChildren"]
        deep = folders[0]
        below = await client.get(
            f"{url}/{deep['id']}/children", params={"recursive": "true"}, headers=headers
        )
        start = items.index(deep) + 1
        assert below.json()["results"] == items[start : start + len(below.json()["results"])]
        assert len(below.json()["results"]) > len(
            (await client.get(f"{url}/{deep['id']}/children", headers=headers)).json()["results"]
        )
        missing = await client.get(f"{url}/_999_1/children", headers=headers)
        assert missing.status_code == 404
        bad = await client.get(url, params={"recursive": "yes"}, headers=headers)
        assert bad.status_code == 400
        trimmed = await client.get(
            url, params={"recursive": "true", "fields": "id,contentHandler.id"}, headers=headers
        )
        assert trimmed.json()["results"][0] == {
            "id": items[0]["id"],
            "contentHandler": {"id": FOLDER},
        }

    run(sandbox, scenario)
    assert sandbox.record.calls["GET /v1/courses/{id}/contents/{id}/children"] >= 3


def test_contents_page_200_by_default_and_by_limit_and_offset() -> None:
    """A course of 450 items lists in pages of 200 by default; limit and offset page it too."""
    sandbox = make(FakeClock(), courses=[SeedCourse("BIG", "Big", contents=450, columns=0)])

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        url = f"{API}/v1/courses/courseId:BIG/contents"
        by_default, pages = await every_page(client, headers, url, {"recursive": "true"})
        assert pages == 3 and len(by_default) == 450
        assert len({item["id"] for item in by_default}) == 450
        by_limit, pages = await every_page(
            client, headers, url, {"recursive": "true", "limit": "100"}
        )
        assert pages == 5 and by_limit == by_default
        window = await client.get(
            url, params={"recursive": "true", "offset": "440", "limit": "50"}, headers=headers
        )
        assert window.json()["results"] == by_default[440:]
        assert "paging" not in window.json()

    run(sandbox, scenario)


def test_gradebook_columns_are_listed_paged_in_v1_and_v2() -> None:
    """GET /v2 (and /v1) gradebook/columns page the course's columns with nextPage."""
    sandbox = make(FakeClock())

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        url = f"{API}/v2/courses/courseId:SRC-1/gradebook/columns"
        columns, pages = await every_page(client, headers, url, {"limit": "2"})
        assert pages == 3 and len(columns) == 5 == sandbox.column_count("courseId:SRC-1")
        assert all(set(c) >= {"id", "name", "score"} for c in columns)
        assert all(c["score"]["possible"] > 0 for c in columns)
        v1 = await client.get(url.replace("/v2/", "/v1/"), headers=headers)
        assert v1.json()["results"] == columns
        empty = await client.get(
            f"{API}/v2/courses/courseId:SRC-2/gradebook/columns", headers=headers
        )
        assert empty.json() == {"results": []}

    run(sandbox, scenario)


def test_seeded_sources_vary_with_the_course_id_and_shells_are_empty() -> None:
    """Sources get 5-60 items and 0-20 columns from the courseId alone; shells none unless asked."""
    ids = [f"COURSE-{n}" for n in range(300)]
    counts = [seeded_counts(course_id) for course_id in ids]
    assert all(5 <= items <= 60 and 0 <= columns <= 20 for items, columns in counts)
    assert len(set(counts)) > 50
    assert min(counts) < (8, 0) and max(counts) > (57, 0)
    plans = [
        content_plan(course_id, items) for course_id, (items, _) in zip(ids, counts, strict=True)
    ]
    assert all(len(plan) == items for plan, (items, _) in zip(plans, counts, strict=True))
    config: dict[str, Any] = {
        "courses": [
            SeedCourse("A-1", "A"),
            SeedCourse("S-1", "S", shell=True),
            SeedCourse("S-2", "S", shell=True),
            SeedCourse("S-3", "S", shell=True, contents=4, columns=2),
        ],
        "shells_with_content": ["S-2"],
        "terms": [],
    }
    one = LearnSandbox(SandboxConfig(seed=1, **config), clock=FakeClock())
    other = LearnSandbox(SandboxConfig(seed=2, **config), clock=FakeClock())
    for sandbox in (one, other):
        assert (sandbox.content_count("courseId:A-1"), sandbox.column_count("courseId:A-1")) == (
            seeded_counts("A-1")
        )
        assert sandbox.content_count("courseId:S-1") == sandbox.column_count("courseId:S-1") == 0
        assert sandbox.content_count("courseId:S-2") == seeded_counts("S-2")[0]
        assert sandbox.content_count("courseId:S-3") == 4
        assert sandbox.column_count("courseId:S-3") == 2
    assert one.teaching.to_dict()["courses"] == other.teaching.to_dict()["courses"]
    with pytest.raises(KeyError):
        one.content_count("courseId:NOPE")


def test_seed_adds_users_and_content_to_a_running_site() -> None:
    """seed() adds courses with their content and users the site does not have yet."""
    sandbox = make(FakeClock())
    added = sandbox.seed(
        [SeedCourse("SRC-1", "again"), SeedCourse("LATE", "Late", contents=6, columns=1)],
        [SeedTerm("FA27", "Fall 2027")],
        [SeedUser("bob"), SeedUser("carol")],
    )
    assert added == ["FA27", "LATE", "carol"]
    assert sandbox.content_count("courseId:LATE") == 6 and sandbox.column_count("courseId:LATE")
    assert sandbox.teaching.find_user("userName:carol") is not None


# -- what a copy brings --------------------------------------------------------------------------


def test_a_completed_copy_adds_the_sources_content_and_columns_twice_doubles_them() -> None:
    """Content and columns arrive when the copy completes; a second copy into a shell adds again."""
    clock = FakeClock()
    sandbox = make(clock, copy_seconds=10.0)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        for expected in (1, 2):
            await copy(client, headers, "SRC-1", {"id": "courseId:SHELL-1"}, {"gradebook": True})
            clock.advance(5)
            assert sandbox.content_count("courseId:SHELL-1") == 12 * (expected - 1)
            clock.advance(5)
            url = f"{API}/v1/courses/courseId:SHELL-1/contents"
            items = (await client.get(url, params={"recursive": "true"}, headers=headers)).json()
            assert len(items["results"]) == 12 * expected
        await copy(client, headers, "SRC-1", {"courseId": "NEW"})
        clock.advance(10)

    run(sandbox, scenario)
    assert sandbox.content_count("courseId:SHELL-1") == 24
    assert sandbox.column_count("courseId:SHELL-1") == 10
    assert (sandbox.content_count("courseId:NEW"), sandbox.column_count("courseId:NEW")) == (12, 5)
    assert sandbox.content_count("courseId:SRC-1") == 12, "the source keeps its own"
    shell = sandbox.teaching.view(sandbox.course("courseId:SHELL-1").primary_id)  # type: ignore[union-attr]
    source = sandbox.teaching.view(sandbox.course("courseId:SRC-1").primary_id)  # type: ignore[union-attr]
    titles = [row[2:] for row in source.contents]
    assert [row[2:] for row in shell.contents] == titles + titles
    assert len({row[0] for row in shell.contents + source.contents}) == 36, "copies get new ids"


def test_an_exact_copy_brings_the_sources_memberships_and_an_explicit_one_does_not() -> None:
    """A copy without a `copy` object enrols the source's members in the target; with one, not."""
    clock = FakeClock()
    sandbox = make(clock, copy_seconds=10.0)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        for user, role in (("bob", "Student"), ("jane.doe", "Instructor")):
            await client.put(
                member_url("courseId:SRC-1", f"userName:{user}"),
                json={"courseRoleId": role},
                headers=headers,
            )
        await copy(client, headers, "SRC-1", {"courseId": "EXACT"})
        await copy(client, headers, "SRC-1", {"courseId": "CHOSEN"}, {"announcements": True})
        await client.put(
            member_url("courseId:SHELL-1", "userName:bob"),
            json={"courseRoleId": "Grader"},
            headers=headers,
        )
        await copy(client, headers, "SRC-1", {"id": "courseId:SHELL-1"})
        clock.advance(10)
        exact = await client.get(f"{API}/v1/courses/courseId:EXACT/users", headers=headers)
        target = sandbox.course("courseId:EXACT")
        assert target is not None
        assert [(m["courseId"], m["courseRoleId"]) for m in exact.json()["results"]] == [
            (target.primary_id, "Student"),
            (target.primary_id, "Instructor"),
        ]
        chosen = await client.get(f"{API}/v1/courses/courseId:CHOSEN/users", headers=headers)
        assert chosen.json()["results"] == []

    run(sandbox, scenario)
    bob = sandbox.membership("courseId:SHELL-1", "userName:bob")
    assert bob is not None and bob["courseRoleId"] == "Grader", "an existing member is kept"
    assert sandbox.membership("courseId:SHELL-1", "userName:jane.doe") is not None
    assert [e.course_id for e in sandbox.record.enrolments] == ["SRC-1", "SRC-1", "SHELL-1"]


def test_a_partial_copy_reports_complete_yet_adds_fewer_items() -> None:
    """With partial_copy_rate 1 the task ends Complete with a 303, and half the content arrives."""
    clock = FakeClock()
    sandbox = make(clock, partial_copy_rate=1.0)

    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        headers = await bearer(client)
        location = (await copy(client, headers, "SRC-1", {"courseId": "NEW"})).headers["location"]
        clock.advance(1)
        return await client.get(location, headers=headers)

    done = run(sandbox, scenario)
    assert done.status_code == 303 and done.json()["status"] == "Complete"
    assert 1 <= sandbox.content_count("courseId:NEW") < sandbox.content_count("courseId:SRC-1")
    assert sandbox.content_count("courseId:NEW") == 6
    assert sandbox.record.faults["partial_copy"] == 1
    assert sandbox.task("_1_1").partial  # type: ignore[union-attr]


def test_partial_copies_are_drawn_from_the_seed_and_never_with_errors() -> None:
    """Which copies are partial repeats with the seed; a CompleteWithErrors copy is never partial."""

    def partial_flags(seed: int) -> list[tuple[str, bool]]:
        clock = FakeClock()
        sandbox = make(clock, partial_copy_rate=0.5, complete_with_errors_rate=0.3, seed=seed)

        async def scenario(client: httpx.AsyncClient) -> None:
            headers = await bearer(client)
            for n in range(30):
                await copy(client, headers, "SRC-1", {"courseId": f"T{n}"})
            clock.advance(1)

        run(sandbox, scenario)
        tasks = sandbox.queue.tasks.values()
        return [(t.outcome, t.partial) for t in tasks]

    flags = partial_flags(3)
    assert flags == partial_flags(3) != partial_flags(4)
    assert ("Complete", True) in flags and ("Complete", False) in flags
    assert ("CompleteWithErrors", True) not in flags


# -- the machinery every endpoint shares ---------------------------------------------------------


NEW_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", f"{API}/v1/users/userName:bob", None, "GET /v1/users/{id}"),
    (
        "PUT",
        member_url("courseId:SHELL-1", "userName:bob"),
        ENROL,
        "PUT /v1/courses/{id}/users/{id}",
    ),
    (
        "PATCH",
        member_url("courseId:SHELL-1", "userName:bob"),
        {"courseRoleId": "Grader"},
        "PATCH /v1/courses/{id}/users/{id}",
    ),
    (
        "GET",
        member_url("courseId:SHELL-1", "userName:bob"),
        None,
        "GET /v1/courses/{id}/users/{id}",
    ),
    ("GET", f"{API}/v1/courses/courseId:SHELL-1/users", None, "GET /v1/courses/{id}/users"),
    ("GET", f"{API}/v1/courses/courseId:SRC-1/contents", None, "GET /v1/courses/{id}/contents"),
    (
        "GET",
        f"{API}/v2/courses/courseId:SRC-1/gradebook/columns",
        None,
        "GET /v2/courses/{id}/gradebook/columns",
    ),
]


def test_new_endpoints_charge_the_quota_check_the_bearer_and_fail_like_the_others() -> None:
    """Each new endpoint sends rate headers, refuses a bad bearer, 429s when empty, and 500s."""
    clock = FakeClock()
    sandbox = make(clock, quota_limit=1 + 2 * len(NEW_ENDPOINTS), quota_refill_per_second=0.0)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        for method, url, body, _ in NEW_ENDPOINTS:
            answer = await client.request(method, url, json=body, headers=headers)
            assert answer.status_code in (200, 201), (url, answer.text)
            assert "x-rate-limit-remaining" in answer.headers
            stale = await client.request(
                method, url, json=body, headers={"Authorization": "Bearer nope"}
            )
            assert stale.status_code == 401
            assert stale.json()["message"] == "Bearer token is invalid"
        limited = await client.get(NEW_ENDPOINTS[0][1], headers=headers)
        assert limited.status_code == 429 and "retry-after" in limited.headers

    run(sandbox, scenario)
    for _, _, _, template in NEW_ENDPOINTS:
        limited_too = template == NEW_ENDPOINTS[0][3]
        assert sandbox.record.calls[template] == 2 + limited_too, template

    failing = make(FakeClock(), error_rate=1.0)

    async def errors(client: httpx.AsyncClient) -> list[int]:
        headers = await bearer(client)
        return [
            (await client.request(method, url, json=body, headers=headers)).status_code
            for method, url, body, _ in NEW_ENDPOINTS
        ]

    assert run(failing, errors) == [500] * len(NEW_ENDPOINTS)
    assert failing.record.enrolments == []


def test_paths_the_sandbox_does_not_serve_are_still_learn_shaped_404s() -> None:
    """DELETE of a membership, one content item and a column are not served: 404."""
    sandbox = make(FakeClock())

    async def scenario(client: httpx.AsyncClient) -> list[int]:
        headers = await bearer(client)
        return [
            (await client.request(method, url, headers=headers)).status_code
            for method, url in (
                ("DELETE", member_url("courseId:SHELL-1", "userName:bob")),
                ("POST", f"{API}/v1/courses/courseId:SRC-1/users"),
                ("GET", f"{API}/v1/courses/courseId:SRC-1/contents/_1_1"),
                ("GET", f"{API}/v2/courses/courseId:SRC-1/gradebook/columns/_1_1"),
                ("GET", f"{API}/v3/users/userName:bob"),
            )
        ]

    assert run(sandbox, scenario) == [404] * 5
    assert sandbox.record.calls["DELETE <unknown>"] == 1


def test_membership_bodies_follow_the_spec_with_only_the_role_enum_opened() -> None:
    """The PUT/PATCH membership schemas are the spec's, less courseRoleId's closed list."""
    for method in ("put", "patch"):
        schema = request_body_schema(method, MEMBERSHIP_PATH)
        spec = load_spec()["paths"][MEMBERSHIP_PATH][method]["parameters"][2]["schema"]
        assert set(spec["properties"]["courseRoleId"]["enum"]) == set(BUILTIN_ROLES)
        assert "enum" not in schema["properties"]["courseRoleId"]
        assert set(schema["properties"]) == set(spec["properties"])
        assert validate_request_body(method, MEMBERSHIP_PATH, {"courseRoleId": "Mentor"}) == []
        assert validate_request_body(method, MEMBERSHIP_PATH, {"courseRoleId": 1})
        assert validate_request_body(
            method, MEMBERSHIP_PATH, {"availability": {"available": "Maybe"}}
        )


def test_teaching_state_survives_save_load_and_journal_replay(tmp_path: Path) -> None:
    """Users, enrolments (lost ones too), copied content and the record reload exactly."""
    clock = FakeClock()
    state = tmp_path / "learn.sandbox.json"
    sandbox = make(clock, copy_seconds=20.0, partial_copy_rate=0.5, seed=4)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        await copy(client, headers, "SRC-1", {"courseId": "NEW"})
        clock.advance(1)
        await client.put(member_url("courseId:NEW", "userName:bob"), json=ENROL, headers=headers)
        await copy(client, headers, "SRC-2", {"id": "courseId:SHELL-1"}, {"rubrics": True})
        clock.advance(25)
        await client.patch(
            member_url("courseId:SRC-1", "userName:bob"), json=ENROL, headers=headers
        )
        await client.get(f"{API}/v1/courses/courseId:NEW/contents", headers=headers)

    run(sandbox, scenario, state_path=state)
    reloaded = LearnSandbox.load(state, clock=clock)
    assert reloaded.to_state() == sandbox.to_state()
    assert reloaded.membership("courseId:NEW", "userName:bob") is None
    assert reloaded.record.enrolments == sandbox.record.enrolments
    assert reloaded.content_count("courseId:SHELL-1") == sandbox.content_count("courseId:SHELL-1")
    assert reloaded.teaching.find_user("uuid:" + sandbox.teaching.users["_1_1"]["uuid"])
