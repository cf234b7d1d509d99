"""The embedded Learn simulator: faithful to Learn's documented behaviour and its harder corners."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from rollover.sandbox import (
    Catalog,
    CopyQueue,
    Course,
    LearnSandbox,
    SandboxConfig,
    SandboxServer,
    SeedCourse,
    SeedTerm,
    create_app,
    listen,
    load_spec,
    request_body_schema,
    validate_request_body,
)

API = "/learn/api/public"
TOKEN_URL = f"{API}/v1/oauth2/token"
KEY, SECRET = "rollover-sandbox-key", "rollover-sandbox-secret"
COPY_PATH = f"{API}/v2/courses/{{courseId}}/copy"
PATCH_PATH = f"{API}/v3/courses/{{courseId}}"


Scenario = Callable[[httpx.AsyncClient], Awaitable[Any]]


def run(sandbox: LearnSandbox, scenario: Scenario, **app_options: Any) -> Any:
    """Run `scenario` against the sandbox app in-process, the way the tool's tests do."""

    async def main() -> Any:
        transport = httpx.ASGITransport(app=create_app(sandbox, **app_options))
        async with httpx.AsyncClient(transport=transport, base_url="http://learn.test") as client:
            return await scenario(client)

    return asyncio.run(main())


async def bearer(client: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers carrying a fresh (or the current) bearer token."""
    response = await client.post(
        TOKEN_URL, auth=(KEY, SECRET), data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def copy_new(
    client: httpx.AsyncClient, headers: dict[str, str], source: str, target: str
) -> httpx.Response:
    """POST a copy of `source` into a new course `target`."""
    return await client.post(
        f"{API}/v2/courses/courseId:{source}/copy",
        json={"targetCourse": {"courseId": target}},
        headers=headers,
    )


def primary_id_of(find: Callable[[str], Course | None], ref: str) -> str | None:
    """The primary id of the course `find` returns for `ref`, or None when it finds none."""
    course = find(ref)
    return course.primary_id if course is not None else None


def make(clock: FakeClock, **options: Any) -> LearnSandbox:
    """A sandbox with the default config changed by `options`, running on `clock`."""
    return LearnSandbox(SandboxConfig(**options), clock=clock)


# -- OAuth ---------------------------------------------------------------------------------------


def test_token_is_reused_with_remaining_lifetime_then_renewed_after_expiry() -> None:
    """Asking again returns the same token with its remaining life; after expiry, a new one."""
    clock = FakeClock()
    sandbox = make(clock)

    async def scenario(client: httpx.AsyncClient) -> None:
        form = {"grant_type": "client_credentials"}
        first = (await client.post(TOKEN_URL, auth=(KEY, SECRET), data=form)).json()
        assert first["expires_in"] == 3600 and first["token_type"] == "bearer"
        clock.advance(1961)
        second = (await client.post(TOKEN_URL, auth=(KEY, SECRET), data=form)).json()
        assert second["access_token"] == first["access_token"]
        assert second["expires_in"] == 1639
        clock.advance(1640)
        third = (await client.post(TOKEN_URL, auth=(KEY, SECRET), data=form)).json()
        assert third["access_token"] != first["access_token"]
        assert third["expires_in"] == 3600

    run(sandbox, scenario)


def test_bad_credentials_and_grant_type_get_oauth_error_shape() -> None:
    """Wrong Basic credentials answer 401 invalid_client; a wrong grant_type answers 400."""
    sandbox = make(FakeClock())

    async def scenario(client: httpx.AsyncClient) -> None:
        wrong = await client.post(
            TOKEN_URL, auth=(KEY, "nope"), data={"grant_type": "client_credentials"}
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert "x-rate-limit-remaining" not in wrong.headers
        grant = await client.post(TOKEN_URL, auth=(KEY, SECRET), data={"grant_type": "password"})
        assert grant.status_code == 400 and "error_description" in grant.json()

    run(sandbox, scenario)


def test_stale_or_unknown_bearer_gets_401_bearer_token_is_invalid() -> None:
    """An expired or made-up bearer token answers 401 with Learn's message."""
    clock = FakeClock()
    sandbox = make(clock)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        assert (await client.get(f"{API}/v1/terms", headers=headers)).status_code == 200
        clock.advance(3600)
        stale = await client.get(f"{API}/v1/terms", headers=headers)
        assert stale.status_code == 401
        assert stale.json()["message"] == "Bearer token is invalid"
        made_up = await client.get(f"{API}/v1/terms", headers={"Authorization": "Bearer x"})
        assert made_up.status_code == 401

    run(sandbox, scenario)


# -- copy and task -------------------------------------------------------------------------------


def test_copy_answers_202_empty_body_and_relative_v1_location() -> None:
    """A copy POST answers 202, `{}`, and a relative v1 task Location under the source's id."""
    sandbox = make(FakeClock())
    source = sandbox.course("courseId:BIO101-SP26")
    assert source is not None

    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        return await copy_new(client, await bearer(client), "BIO101-SP26", "BIO101-FA26")

    response = run(sandbox, scenario)
    assert response.status_code == 202
    assert response.json() == {}
    assert response.headers["location"] == f"{API}/v1/courses/{source.primary_id}/tasks/_1_1"
    assert sandbox.record.copies_per_target() == {"BIO101-FA26": 1}


def test_copy_errors_missing_source_taken_course_id_and_invalid_bodies() -> None:
    """404 for a missing source or target, 409 for a taken courseId, 400 for invalid bodies."""
    sandbox = make(FakeClock())

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        missing = await copy_new(client, headers, "NOPE", "NEW-1")
        assert missing.status_code == 404
        bare = await client.post(
            f"{API}/v2/courses/BIO101-SP26/copy",
            json={"targetCourse": {"courseId": "NEW-1"}},
            headers=headers,
        )
        assert bare.status_code == 404, "an unprefixed path value is a primary id"
        assert (await copy_new(client, headers, "BIO101-SP26", "NEW-1")).status_code == 202
        taken = await copy_new(client, headers, "BIO101-SP26", "NEW-1")
        assert taken.status_code == 409
        assert taken.json()["status"] == "409"
        assert taken.json()["message"] == "A course with the provided courseId already exists"
        url = f"{API}/v2/courses/courseId:BIO101-SP26/copy"
        bodies: list[dict[str, Any]] = [
            {},
            {"targetCourse": {}},
            {"targetCourse": {"courseId": "X", "id": "_1_1"}},
            {"targetCourse": {"courseId": 7}},
            {"targetCourse": {"courseId": "X"}, "copy": {"discussions": "All"}},
            {"targetCourse": {"courseId": "X"}, "copy": {"announcements": "yes"}},
        ]
        for body in bodies:
            bad = await client.post(url, json=body, headers=headers)
            assert bad.status_code == 400, body
            assert bad.json()["status"] == 400 and bad.json()["message"]
        not_json = await client.post(url, content=b"{oops", headers=headers)
        assert not_json.status_code == 400
        no_target = await client.post(
            url, json={"targetCourse": {"id": "courseId:NOPE"}}, headers=headers
        )
        assert no_target.status_code == 404

    run(sandbox, scenario)
    assert sandbox.record.copies_per_target() == {"NEW-1": 1}


def test_slots_serve_tasks_fifo_and_percent_complete_rises() -> None:
    """With 2 slots and 3 copies the third is Queued until the first ends; percent rises."""
    clock = FakeClock()
    sandbox = make(clock, slots=2, copy_seconds=10.0)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        locations = []
        for n in range(3):
            response = await copy_new(client, headers, "BIO101-SP26", f"T{n}")
            locations.append(response.headers["location"])

        async def status(n: int) -> dict[str, Any]:
            answer: dict[str, Any] = (await client.get(locations[n], headers=headers)).json()
            return answer

        assert [(await status(n))["status"] for n in range(3)] == ["Running", "Running", "Queued"]
        clock.advance(5)
        halfway = await status(0)
        assert halfway["percentComplete"] == 49 and "started" in halfway
        assert (await status(2))["status"] == "Queued"
        clock.advance(5)
        assert (await client.get(locations[0], headers=headers)).status_code == 303
        third = await status(2)
        assert third["status"] == "Running" and third["percentComplete"] == 0
        clock.advance(9)
        assert (await status(2))["percentComplete"] == 89

    run(sandbox, scenario)


@settings(max_examples=60, deadline=None)
@given(
    slots=st.integers(1, 4),
    posts=st.lists(st.tuples(st.floats(0, 5), st.floats(0, 10)), min_size=1, max_size=25),
)
def test_copy_queue_never_runs_more_than_its_slots_and_starts_fifo(
    slots: int, posts: list[tuple[float, float]]
) -> None:
    """At every moment at most `slots` copies run, and tasks start in the order posted."""
    queue = CopyQueue.with_slots(slots)
    now = 1000.0
    for gap, duration in posts:
        now += gap
        queue.schedule(
            source_primary_id="_1_1",
            source_course_id="S",
            target_primary_id="_2_1",
            into_existing=True,
            now=now,
            duration=duration,
            outcome="Complete",
        )
    tasks = list(queue.tasks.values())
    assert [t.start for t in tasks] == sorted(t.start for t in tasks)
    assert all(t.start >= t.posted for t in tasks)
    for moment in {t.start for t in tasks}:
        running = [t for t in tasks if t.start <= moment < t.end]
        assert len(running) <= slots
        assert all(t.view(moment)["status"] == "Running" for t in running)


def test_finished_task_answers_303_whose_location_is_the_new_course() -> None:
    """A done task answers 303 with a Location that GETs the new course."""
    clock = FakeClock()
    sandbox = make(clock)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        location = (await copy_new(client, headers, "BIO101-SP26", "NEW")).headers["location"]
        clock.advance(0.5)
        done = await client.get(location, headers=headers)
        assert done.status_code == 303
        assert done.json()["status"] == "Complete" and done.json()["percentComplete"] == 100
        course = await client.get(done.headers["location"], headers=headers)
        assert course.status_code == 200 and course.json()["courseId"] == "NEW"
        assert course.json()["name"] == "Biology 101 (Spring 2026)"

    run(sandbox, scenario)


def test_new_course_is_visible_before_completion_and_a_patch_then_is_overwritten() -> None:
    """The target exists at once; a PATCH before completion is lost and recorded as premature."""
    clock = FakeClock()
    sandbox = make(clock, copy_seconds=60.0)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        await copy_new(client, headers, "BIO101-SP26", "NEW")
        early = await client.get(f"{API}/v3/courses/courseId:NEW", headers=headers)
        assert early.status_code == 200
        assert sandbox.course("courseId:NEW") is not None
        assert sandbox.course("courseId:NEW").content == []  # type: ignore[union-attr]
        patched = await client.patch(
            f"{API}/v3/courses/courseId:NEW", json={"name": "Biology (Fall)"}, headers=headers
        )
        assert patched.json()["name"] == "Biology (Fall)"
        clock.advance(60)
        after = await client.get(f"{API}/v3/courses/courseId:NEW", headers=headers)
        assert after.json()["name"] == "Biology 101 (Spring 2026)"
        assert after.json()["description"] == "Cells and life"
        late = await client.patch(
            f"{API}/v3/courses/courseId:NEW", json={"name": "Biology (Fall)"}, headers=headers
        )
        assert late.json()["name"] == "Biology (Fall)"

    run(sandbox, scenario)
    assert [p.copy_complete for p in sandbox.record.patches] == [False, True]
    assert sandbox.course("courseId:NEW").content == ["BIO101-SP26"]  # type: ignore[union-attr]


def test_copy_into_existing_course_is_additive() -> None:
    """Two copies into one existing course duplicate its content and both are recorded."""
    clock = FakeClock()
    sandbox = make(clock)
    shell = sandbox.course("courseId:HIST200-SP26")
    assert shell is not None

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        for target_id in (shell.primary_id, "courseId:HIST200-SP26"):
            response = await client.post(
                f"{API}/v2/courses/courseId:BIO101-SP26/copy",
                json={"targetCourse": {"id": target_id}},
                headers=headers,
            )
            assert response.status_code == 202
        clock.advance(1)
        await client.get(f"{API}/v1/terms", headers=headers)

    run(sandbox, scenario)
    assert shell.content == ["BIO101-SP26", "BIO101-SP26"]
    assert shell.data["name"] == "History 200 (Spring 2026)"
    assert sandbox.record.copies_per_target() == {"HIST200-SP26": 2}
    assert all(event.into_existing for event in sandbox.record.copies)


def test_concurrent_copies_to_one_new_course_id_apply_exactly_once() -> None:
    """Racing POSTs for the same new courseId: one 202, the rest 409, one copy recorded."""
    sandbox = make(FakeClock())

    async def scenario(client: httpx.AsyncClient) -> list[int]:
        headers = await bearer(client)
        answers = await asyncio.gather(
            *(copy_new(client, headers, "BIO101-SP26", "NEW") for _ in range(5))
        )
        return sorted(answer.status_code for answer in answers)

    assert run(sandbox, scenario) == [202, 409, 409, 409, 409]
    assert sandbox.record.copies_per_target() == {"NEW": 1}


def test_copy_options_are_recorded_and_a_self_copy_is_refused() -> None:
    """The body's `copy` options are kept with the event (None = exact copy); self-copy is 400."""
    sandbox = make(FakeClock())
    options = {"announcements": True, "discussions": "ForumsOnly", "settings": {"duration": False}}

    async def scenario(client: httpx.AsyncClient) -> int:
        headers = await bearer(client)
        url = f"{API}/v2/courses/courseId:BIO101-SP26/copy"
        await client.post(
            url, json={"targetCourse": {"courseId": "A"}, "copy": options}, headers=headers
        )
        await copy_new(client, headers, "BIO101-SP26", "B")
        itself = await client.post(
            url, json={"targetCourse": {"id": "externalId:BIO101-SP26"}}, headers=headers
        )
        return itself.status_code

    assert run(sandbox, scenario) == 400
    assert [event.options for event in sandbox.record.copies] == [options, None]


def test_forgotten_and_unknown_tasks_answer_404() -> None:
    """After forget_tasks_after a finished task, like an unknown one, is not found."""
    clock = FakeClock()
    sandbox = make(clock, forget_tasks_after=30.0)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        location = (await copy_new(client, headers, "BIO101-SP26", "NEW")).headers["location"]
        clock.advance(10)
        assert (await client.get(location, headers=headers)).status_code == 303
        clock.advance(30)
        gone = await client.get(location, headers=headers)
        assert gone.status_code == 404
        assert gone.json()["status"] == "404"
        assert gone.json()["message"] == "Task not found for this course"
        other_course = location.replace("/courses/_", "/courses/_9")
        assert (await client.get(other_course, headers=headers)).status_code == 404

    run(sandbox, scenario)


def test_complete_with_errors_comes_as_a_303() -> None:
    """With complete_with_errors_rate 1 the task finishes CompleteWithErrors."""
    clock = FakeClock()
    sandbox = make(clock, complete_with_errors_rate=1.0)

    async def scenario(client: httpx.AsyncClient) -> dict[str, Any]:
        headers = await bearer(client)
        location = (await copy_new(client, headers, "BIO101-SP26", "NEW")).headers["location"]
        clock.advance(1)
        answer: dict[str, Any] = (await client.get(location, headers=headers)).json()
        return answer

    assert run(sandbox, scenario)["status"] == "CompleteWithErrors"


def test_lognormal_durations_are_seeded_and_capped() -> None:
    """Copy durations vary with sigma, repeat with the seed, and never exceed the cap."""

    def durations(seed: int) -> list[float]:
        clock = FakeClock()
        sandbox = make(clock, copy_sigma=2.0, copy_max_seconds=5.0, seed=seed, slots=50)

        async def scenario(client: httpx.AsyncClient) -> None:
            headers = await bearer(client)
            for n in range(20):
                await copy_new(client, headers, "BIO101-SP26", f"T{n}")

        run(sandbox, scenario)
        return [t.end - t.start for t in sandbox.queue.tasks.values()]

    assert durations(3) == durations(3) != durations(4)
    assert max(durations(3)) == 5.0 and len(set(durations(3))) > 2


def post(queue: CopyQueue, now: float, duration: float) -> None:
    """Schedule one copy of _1_1 into _2_1 at `now` taking `duration` seconds."""
    queue.schedule(
        source_primary_id="_1_1",
        source_course_id="S",
        target_primary_id="_2_1",
        into_existing=True,
        now=now,
        duration=duration,
        outcome="Complete",
    )


@pytest.mark.parametrize(
    ("slots", "durations", "ideal"),
    [
        # Slot A takes 3; slot B takes 1, then 1 (free at 1), then 2 (free at 2): B ends at 4.
        (2, [3.0, 1.0, 1.0, 2.0], 4.0),
        # FIFO, not the best packing: 1 and 1 fill both slots, so 2 ends at 3 (optimal is 2).
        (2, [1.0, 1.0, 2.0], 3.0),
        (1, [2.0, 0.5, 1.5], 4.0),
    ],
)
def test_ideal_makespan_replays_durations_fifo_on_the_slots_with_no_posting_delay(
    slots: int, durations: list[float], ideal: float
) -> None:
    """ideal_makespan ignores when tasks were posted; busy_span is first post to last end."""
    queue = CopyQueue.with_slots(slots)
    for n, duration in enumerate(durations):
        post(queue, 100.0 + 10.0 * n, duration)
    assert queue.ideal_makespan() == ideal
    last_end = 100.0 + 10.0 * (len(durations) - 1) + durations[-1]
    assert queue.busy_span() == last_end - 100.0
    assert queue.summary() == {
        "slots": slots,
        "tasks": len(durations),
        "ideal_makespan": ideal,
        "busy_span": last_end - 100.0,
        "first_posted": 100.0,
        "last_end": last_end,
    }


def test_empty_queue_has_zero_spans_and_no_first_post() -> None:
    """With no copies both spans are 0 and first_posted/last_end are None."""
    assert CopyQueue.with_slots(3).summary() == {
        "slots": 3,
        "tasks": 0,
        "ideal_makespan": 0.0,
        "busy_span": 0.0,
        "first_posted": None,
        "last_end": None,
    }


def test_finished_copies_are_taken_once_in_end_order_ties_in_posting_order() -> None:
    """take_finished hands out ended tasks by (end, posted, posting order), each only once."""
    queue = CopyQueue.with_slots(4)
    for now, duration in [(0.0, 9.0), (1.0, 2.0), (2.0, 1.0), (3.0, 5.0), (3.0, 5.0)]:
        post(queue, now, duration)
    # Ends: _1_1 at 9, _2_1 and _3_1 at 3; _4_1 takes the last free slot and _5_1 the slot _2_1
    # frees, so both end at 8 having been posted at 3: only posting order tells them apart.
    assert [t.id for t in queue.take_finished(2.9)] == []
    assert [t.id for t in queue.take_finished(3.0)] == ["_2_1", "_3_1"]
    restored = CopyQueue.from_dict(queue.to_dict())
    for current in (queue, restored):
        assert [t.id for t in current.take_finished(100.0)] == ["_4_1", "_5_1", "_1_1"]
        assert current.take_finished(200.0) == []
        assert all(t.applied for t in current.tasks.values())


def test_copies_into_one_course_land_in_the_order_they_finish() -> None:
    """Copies with varied durations into one shell add content in end order, not posting order."""
    clock = FakeClock()
    sandbox = make(clock, slots=3, copy_sigma=1.5, seed=2)
    shell = sandbox.course("courseId:HIST200-SP26")
    assert shell is not None
    sources = ["BIO101-SP26", "CHEM110-SP26", "BIO101-SP26", "CHEM110-SP26", "BIO101-SP26"]

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        for source in sources:
            response = await client.post(
                f"{API}/v2/courses/courseId:{source}/copy",
                json={"targetCourse": {"id": shell.primary_id}},
                headers=headers,
            )
            assert response.status_code == 202
            clock.advance(0.1)
        clock.advance(3600)
        await client.get(f"{API}/v1/terms", headers=headers)

    run(sandbox, scenario)
    by_end = sorted(sandbox.queue.tasks.values(), key=lambda t: t.end)
    assert shell.content == [t.source_course_id for t in by_end]
    assert shell.content != sources


# -- courses, terms and PATCH --------------------------------------------------------------------


def test_patch_refuses_read_only_fields_taken_external_ids_and_bad_dates() -> None:
    """PATCH answers 400 for read-only fields and bad dates and 409 for a taken externalId."""
    sandbox = make(FakeClock())
    url = f"{API}/v3/courses/courseId:BIO101-SP26"

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        for field in ("courseId", "ultraStatus", "organization", "id"):
            response = await client.patch(url, json={field: "x"}, headers=headers)
            assert response.status_code == 400 and field in response.json()["message"]
        conflict = await client.patch(url, json={"externalId": "CHEM110-SP26"}, headers=headers)
        assert conflict.status_code == 409 and conflict.json()["status"] == "409"
        for duration in (
            {"type": "DateRange", "start": "2026-09-01T00:00:00Z"},
            {"type": "DateRange", "start": "2026-12-01T00:00:00Z", "end": "2026-09-01T00:00:00Z"},
            {"type": "Continuous", "start": "2026-09-01T00:00:00Z"},
            {"type": "DateRange", "start": "2026-09-01", "end": "2026-12-01"},
        ):
            body = {"availability": {"duration": duration}}
            assert (await client.patch(url, json=body, headers=headers)).status_code == 400
        others: list[dict[str, Any]] = [
            {"name": "x" * 334},
            {"availability": {"available": "Maybe"}},
            {"termId": "externalId:NOPE"},
            {"allowGuests": "yes"},
        ]
        for body in others:
            assert (await client.patch(url, json=body, headers=headers)).status_code == 400

    run(sandbox, scenario)
    assert sandbox.record.patches == []


def test_patch_accepts_term_by_external_id_and_a_date_range() -> None:
    """termId may be externalId:X; a valid DateRange is stored in Learn's timestamp form."""
    sandbox = make(FakeClock())

    async def scenario(client: httpx.AsyncClient) -> dict[str, Any]:
        headers = await bearer(client)
        body = {
            "termId": "externalId:FA26",
            "externalId": "BIO101-FA26-EXT",
            "availability": {
                "available": "Term",
                "duration": {
                    "type": "DateRange",
                    "start": "2026-09-01T00:00:00Z",
                    "end": "2026-12-20T00:00:00+00:00",
                },
            },
        }
        response = await client.patch(
            f"{API}/v3/courses/courseId:BIO101-SP26", json=body, headers=headers
        )
        assert response.status_code == 200, response.text
        term = await client.get(f"{API}/v1/terms/externalId:FA26", headers=headers)
        assert term.json()["id"] == response.json()["termId"]
        answer: dict[str, Any] = response.json()
        return answer

    course = run(sandbox, scenario)
    assert course["externalId"] == "BIO101-FA26-EXT"
    assert course["availability"]["duration"] == {
        "type": "DateRange",
        "start": "2026-09-01T00:00:00.000Z",
        "end": "2026-12-20T00:00:00.000Z",
    }
    assert sandbox.record.patches[0].copy_complete is True


def test_get_course_in_every_id_form_and_version_with_fields_trimming() -> None:
    """A course GETs by primary id, courseId:, externalId: and uuid:, and fields= trims it."""
    sandbox = make(FakeClock())
    course = sandbox.course("courseId:BIO101-SP26")
    assert course is not None
    refs = [
        course.primary_id,
        "courseId:BIO101-SP26",
        "externalId:BIO101-SP26",
        f"uuid:{course.data['uuid']}",
    ]

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        for version, ref in zip(("v1", "v2", "v3", "v3"), refs, strict=True):
            response = await client.get(f"{API}/{version}/courses/{ref}", headers=headers)
            assert response.status_code == 200 and response.json()["id"] == course.primary_id
        trimmed = await client.get(
            f"{API}/v3/courses/{course.primary_id}",
            params={"fields": "id,courseId,availability.available"},
            headers=headers,
        )
        assert trimmed.json() == {
            "id": course.primary_id,
            "courseId": "BIO101-SP26",
            "availability": {"available": "Yes"},
        }
        missing = await client.get(f"{API}/v3/courses/courseId:NOPE", headers=headers)
        assert missing.status_code == 404 and missing.json()["status"] == 404
        assert len(missing.json()["extraInfo"]) == 32

    run(sandbox, scenario)


def test_course_list_filter_matches_substrings_and_pages_host_relative() -> None:
    """?courseId= matches substrings (Learn's trap) and pages with a relative nextPage."""
    courses = [SeedCourse(f"MATH10{n}", f"Math {n}") for n in range(5)]
    sandbox = make(FakeClock(), courses=[*courses, SeedCourse("MATH1", "Math one")], terms=[])

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        found: list[str] = []
        url: str | None = f"{API}/v3/courses?courseId=MATH1&limit=4"
        pages = 0
        while url:
            page = (await client.get(url, headers=headers)).json()
            found += [c["courseId"] for c in page["results"]]
            url = page.get("paging", {}).get("nextPage")
            assert url is None or url.startswith(f"{API}/v3/courses?")
            pages += 1
        assert pages == 2
        assert sorted(found) == sorted([f"MATH10{n}" for n in range(5)] + ["MATH1"])
        terms = await client.get(f"{API}/v1/terms", headers=headers)
        assert terms.json() == {"results": []}

    run(sandbox, scenario)


def test_lookups_follow_a_patched_external_id_and_survive_a_reload() -> None:
    """A PATCHed externalId finds the course; the old one finds nothing and is free again."""
    sandbox = make(FakeClock())
    course = sandbox.course("courseId:BIO101-SP26")
    assert course is not None

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        moved = await client.patch(
            f"{API}/v3/courses/courseId:BIO101-SP26",
            json={"externalId": "BIO-MOVED"},
            headers=headers,
        )
        assert moved.status_code == 200, moved.text
        old = await client.get(f"{API}/v3/courses/externalId:BIO101-SP26", headers=headers)
        assert old.status_code == 404
        new = await client.get(f"{API}/v3/courses/externalId:BIO-MOVED", headers=headers)
        assert new.status_code == 200 and new.json()["id"] == course.primary_id
        reuse = await client.patch(
            f"{API}/v3/courses/courseId:CHEM110-SP26",
            json={"externalId": "BIO101-SP26"},
            headers=headers,
        )
        assert reuse.status_code == 200, "the old externalId is no longer taken"

    run(sandbox, scenario)
    reloaded = LearnSandbox.from_state(json.loads(json.dumps(sandbox.to_state())))
    chem = sandbox.course("courseId:CHEM110-SP26")
    assert chem is not None
    for loaded in (sandbox, reloaded):
        assert primary_id_of(loaded.course, "externalId:BIO-MOVED") == course.primary_id
        assert primary_id_of(loaded.course, "courseId:BIO101-SP26") == course.primary_id
        assert primary_id_of(loaded.course, "externalId:BIO101-SP26") == chem.primary_id


def test_a_repeated_external_id_finds_the_oldest_holder_and_blocks_patches() -> None:
    """A new course may repeat an externalId (Learn defaults it to the courseId, unchecked)."""
    sandbox = make(FakeClock(), courses=[SeedCourse("OLD-1", "Old", external_id="SHARED")])

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        assert (await copy_new(client, headers, "OLD-1", "SHARED")).status_code == 202
        assert (await copy_new(client, headers, "OLD-1", "OTHER")).status_code == 202
        found = await client.get(f"{API}/v3/courses/externalId:SHARED", headers=headers)
        assert found.json()["courseId"] == "OLD-1"
        taken = await client.patch(
            f"{API}/v3/courses/courseId:OTHER", json={"externalId": "SHARED"}, headers=headers
        )
        assert taken.status_code == 409
        unchanged = await client.patch(
            f"{API}/v3/courses/courseId:OLD-1", json={"name": "Old, renamed"}, headers=headers
        )
        assert unchanged.status_code == 200
        found = await client.get(f"{API}/v3/courses/externalId:SHARED", headers=headers)
        assert found.json()["courseId"] == "OLD-1", "a PATCH keeps the holders' order"
        await client.patch(
            f"{API}/v3/courses/courseId:OLD-1", json={"externalId": "OLD-1"}, headers=headers
        )
        found = await client.get(f"{API}/v3/courses/externalId:SHARED", headers=headers)
        assert found.json()["courseId"] == "SHARED"

    run(sandbox, scenario)


def test_course_id_taken_and_lookups_hold_after_many_courses() -> None:
    """Every courseId added is taken and found, by courseId, externalId and uuid; others are not."""
    catalog = Catalog()
    for n in range(500):
        catalog.add_course(
            course_id=f"C-{n}",
            name=f"C {n}",
            description="",
            external_id=f"E-{n}",
            term_primary_id=None,
            uuid=f"{n:032x}",
            now_iso="2026-01-01T00:00:00.000Z",
        )
    assert all(catalog.course_id_taken(f"C-{n}") for n in range(500))
    assert not catalog.course_id_taken("C-500") and not catalog.course_id_taken("E-1")
    for n in (0, 257, 499):
        primary_id = primary_id_of(catalog.find_course, f"courseId:C-{n}")
        assert primary_id is not None
        assert primary_id_of(catalog.find_course, f"externalId:E-{n}") == primary_id
        assert primary_id_of(catalog.find_course, f"uuid:{n:032x}") == primary_id
    assert catalog.find_course("courseId:E-1") is None
    assert catalog.find_course("name:C 1") is None


def test_unknown_path_is_a_learn_shaped_404() -> None:
    """A path Learn does not serve answers 404 in Learn's error shape."""
    sandbox = make(FakeClock())

    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(f"{API}/v9/nothing", headers=await bearer(client))

    response = run(sandbox, scenario)
    assert response.status_code == 404 and set(response.json()) >= {"status", "message"}


# -- quota and faults ----------------------------------------------------------------------------


def test_rate_limit_headers_429_retry_after_and_refill() -> None:
    """Every non-OAuth answer carries rate headers; an empty bucket answers 429, then refills."""
    clock = FakeClock()
    sandbox = make(clock, quota_limit=4, quota_refill_per_second=0.1)

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = await bearer(client)
        remaining = []
        for _ in range(3):
            response = await client.get(f"{API}/v3/courses/courseId:NOPE", headers=headers)
            assert response.headers["x-rate-limit-limit"] == "4"
            remaining.append(response.headers["x-rate-limit-remaining"])
        assert remaining == ["2", "1", "0"]
        limited = await client.get(f"{API}/v1/terms", headers=headers)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "10"
        assert limited.headers["x-rate-limit-remaining"] == "0"
        assert limited.json()["status"] == 429
        clock.advance(10)
        assert (await client.get(f"{API}/v1/terms", headers=headers)).status_code == 200

    run(sandbox, scenario)
    assert sandbox.record.faults["rate_limited"] == 1


def test_a_gateway_refuses_the_calls_it_is_told_to_while_the_quota_shows_plenty() -> None:
    """`gateway_from`/`gateway_calls` refuse exactly those calls (429 with the configured
    Retry-After, or a 5xx) with a quota that is not spent; the calls before and after pass."""
    clock = FakeClock()
    sandbox = make(clock, gateway_from=2, gateway_calls=2, gateway_retry_after=600)

    async def scenario(client: httpx.AsyncClient) -> list[httpx.Response]:
        headers = await bearer(client)  # call 1
        return [await client.get(f"{API}/v1/terms", headers=headers) for _ in range(3)]

    first, second, third = run(sandbox, scenario)
    for limited in (first, second):
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "600"
        assert int(limited.headers["x-rate-limit-remaining"]) > 9000
    assert third.status_code == 200
    assert sandbox.record.faults["gateway"] == 2
    failing = make(FakeClock(), gateway_from=1, gateway_calls=1, gateway_status=503)

    async def token(client: httpx.AsyncClient) -> int:
        form = {"grant_type": "client_credentials"}
        return (await client.post(TOKEN_URL, auth=(KEY, SECRET), data=form)).status_code

    assert run(failing, token) == 503
    with pytest.raises(ValueError, match="gateway_status = "):
        SandboxConfig(gateway_status=404)


def test_injected_errors_and_dropped_copy_answers_are_seeded_and_the_drop_is_applied() -> None:
    """The same seed gives the same 500s and 502s; a dropped copy answer still made the copy."""

    def statuses(seed: int) -> tuple[list[int], LearnSandbox]:
        sandbox = make(FakeClock(), error_rate=0.3, drop_copy_response_rate=0.5, seed=seed)

        async def scenario(client: httpx.AsyncClient) -> list[int]:
            headers = await bearer(client)
            codes = []
            for n in range(20):
                response = await copy_new(client, headers, "BIO101-SP26", f"T{n}")
                codes.append(response.status_code)
                if response.status_code == 502:
                    assert "json" not in response.headers["content-type"]
                    assert "x-rate-limit-remaining" not in response.headers
            return codes

        codes: list[int] = run(sandbox, scenario)
        return codes, sandbox

    codes, sandbox = statuses(11)
    assert codes == statuses(11)[0] != statuses(12)[0]
    assert {500, 502, 202} <= set(codes)
    applied = {event.target_course_id for event in sandbox.record.copies}
    assert applied == {f"T{n}" for n, code in enumerate(codes) if code in (202, 502)}
    assert sandbox.record.faults["server_error"] == codes.count(500)
    assert sandbox.record.faults["dropped_copy_response"] == codes.count(502)


def test_calls_are_counted_per_endpoint_template_and_served_as_json() -> None:
    """record.calls counts by endpoint template and /__sandbox__/record serves the record."""
    clock = FakeClock()
    sandbox = make(clock)

    async def scenario(client: httpx.AsyncClient) -> dict[str, Any]:
        headers = await bearer(client)
        location = (await copy_new(client, headers, "BIO101-SP26", "NEW")).headers["location"]
        await client.get(location, headers=headers)
        await client.get(f"{API}/v3/courses/courseId:NEW", headers=headers)
        record: dict[str, Any] = (await client.get("/__sandbox__/record")).json()
        return record

    record = run(sandbox, scenario)
    assert record["calls"] == {
        "POST /v1/oauth2/token": 1,
        "POST /v2/courses/{id}/copy": 1,
        "GET /v1/courses/{id}/tasks/{id}": 1,
        "GET /v3/courses/{id}": 1,
    }
    assert record["copies_per_target"] == {"NEW": 1}


def test_summary_serves_counts_and_queue_spans_without_the_events() -> None:
    """/__sandbox__/summary has only counts and the queue; /record adds the same queue."""
    clock = FakeClock()
    sandbox = make(clock, slots=2, copy_seconds=10.0)

    async def scenario(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
        headers = await bearer(client)
        for target in ("A", "B", "C"):
            await copy_new(client, headers, "BIO101-SP26", target)
            clock.advance(1)
        await client.patch(f"{API}/v3/courses/courseId:A", json={"name": "Early"}, headers=headers)
        await client.post(
            f"{API}/v2/courses/courseId:BIO101-SP26/copy",
            json={"targetCourse": {"id": "courseId:A"}},
            headers=headers,
        )
        clock.advance(60)
        await client.patch(f"{API}/v3/courses/courseId:B", json={"name": "Late"}, headers=headers)
        summary = (await client.get("/__sandbox__/summary")).json()
        record = (await client.get("/__sandbox__/record")).json()
        return summary, record

    summary, record = run(sandbox, scenario)
    start = 1_790_000_000.0
    # Slots: A 0-10 then C 10-20 (posted at 2); B 1-11 then the copy into A 11-21 (posted at 3).
    queue = {
        "slots": 2,
        "tasks": 4,
        "ideal_makespan": 20.0,
        "busy_span": 21.0,
        "first_posted": start,
        "last_end": start + 21,
    }
    assert summary == {
        "calls": {
            "POST /v1/oauth2/token": 1,
            "POST /v2/courses/{id}/copy": 4,
            "PATCH /v3/courses/{id}": 2,
        },
        "faults": {},
        "queue": queue,
        "copies": 4,
        "patches": 2,
        "patches_before_copy_complete": 1,
        "max_copies_per_target": 2,
        "enrolments": 0,
        "enrolments_lost": 0,
        "attachments": 0,
        "attachments_before_copy_complete": 0,
        "date_patches": 0,
        "date_changes": 0,
    }
    assert record["queue"] == queue
    assert len(record["copies"]) == 4 and record["copies_per_target"]["A"] == 2


# -- persistence, config, spec, server -----------------------------------------------------------


def test_save_and_load_round_trip_the_whole_state(tmp_path: Path) -> None:
    """A loaded sandbox continues exactly where the saved one stood, via the app's state_path."""
    clock = FakeClock()
    state = tmp_path / "learn.sandbox.json"
    sandbox = make(clock, copy_sigma=1.0, error_rate=0.2, seed=5)

    async def first(client: httpx.AsyncClient) -> dict[str, str]:
        headers = await bearer(client)
        for n in range(3):
            await copy_new(client, headers, "BIO101-SP26", f"T{n}")
        return headers

    headers = run(sandbox, first, state_path=state)
    loaded = LearnSandbox.load(state, clock=clock)
    assert loaded.to_state() == sandbox.to_state()

    async def more(client: httpx.AsyncClient) -> list[int]:
        codes = []
        for n in range(3, 8):
            codes.append((await copy_new(client, headers, "BIO101-SP26", f"T{n}")).status_code)
        return codes

    assert run(loaded, more) == run(sandbox, more)
    assert loaded.to_state() == sandbox.to_state()


def test_load_or_create_starts_fresh_then_resumes(tmp_path: Path) -> None:
    """load_or_create builds from config when no file exists and resumes once one does."""
    path = tmp_path / "learn.sandbox.json"
    config = SandboxConfig(courses=[SeedCourse("ONLY-1", "Only")], terms=[])
    fresh = LearnSandbox.load_or_create(path, config, clock=FakeClock())
    assert [c.course_id for c in fresh.catalog.courses.values()] == ["ONLY-1"]
    fresh.record.calls["GET /v1/terms"] += 1
    fresh.save(path)
    resumed = LearnSandbox.load_or_create(path, SandboxConfig(), clock=FakeClock())
    assert resumed.to_state() == fresh.to_state()


def test_config_from_toml_and_dict_round_trip(tmp_path: Path) -> None:
    """TOML with [[courses]] and [[terms]] loads; dicts round-trip; unknown keys are refused."""
    path = tmp_path / "sandbox.toml"
    path.write_text(
        'seed = 7\nslots = 2\n[[terms]]\nexternal_id = "FA26"\nname = "Fall"\n'
        '[[courses]]\ncourse_id = "A-1"\nname = "A"\nterm_id = "FA26"\n',
        encoding="utf-8",
    )
    config = SandboxConfig.from_toml(path)
    assert config.courses == [SeedCourse("A-1", "A", term_id="FA26")]
    assert config.terms == [SeedTerm("FA26", "Fall")]
    assert SandboxConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="slotz = 3: unknown key"):
        SandboxConfig.from_dict({"slotz": 3})
    with pytest.raises(ValueError, match=r'\[\[courses\]\] #1 term = "x": unknown key'):
        SandboxConfig.from_dict({"courses": [{"course_id": "A", "name": "A", "term": "x"}]})


def test_spec_corrects_only_course_id_param_to_a_string() -> None:
    """targetCourse.id is a string (the one spec correction); the rest is the spec unchanged."""
    copy_schema = request_body_schema("POST", COPY_PATH)
    target = copy_schema["properties"]["targetCourse"]["properties"]
    assert load_spec()["definitions"]["CourseIdParam"] == {"type": "object"}
    assert target["id"]["type"] == "string"
    spec_body = load_spec()["paths"][COPY_PATH]["post"]["parameters"][0]["schema"]
    del spec_body["properties"]["targetCourse"]["properties"]["id"]["$ref"]
    del target["id"]["type"]
    assert copy_schema == spec_body
    patch_schema = request_body_schema("PATCH", PATCH_PATH)
    patch_spec = load_spec()["paths"][PATCH_PATH]["patch"]["parameters"][1]["schema"]
    assert patch_schema == patch_spec
    assert validate_request_body("POST", COPY_PATH, {"targetCourse": {"id": "_55_1"}}) == []
    assert validate_request_body("POST", COPY_PATH, {"targetCourse": {"id": {"a": 1}}})
    assert (
        validate_request_body(
            "POST",
            COPY_PATH,
            {
                "targetCourse": {"courseId": "X"},
                "copy": {"discussions": "ForumsOnly", "settings": {"bannerImage": False}},
            },
        )
        == []
    )
    assert validate_request_body("PATCH", PATCH_PATH, {"locale": {"id": "x" * 21}})


def test_sandbox_server_serves_on_loopback() -> None:
    """SandboxServer listens on a free loopback port and answers real HTTP."""
    sandbox = LearnSandbox(SandboxConfig())
    with SandboxServer(create_app(sandbox)) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        response = httpx.post(
            server.base_url + TOKEN_URL,
            auth=(KEY, SECRET),
            data={"grant_type": "client_credentials"},
        )
        assert response.status_code == 200
    assert sandbox.record.calls["POST /v1/oauth2/token"] == 1


def test_served_connections_have_nagle_off() -> None:
    """Connections accepted on the server's listener get TCP_NODELAY from asyncio (Nagle off)."""

    async def nodelay_of_accepted_connection() -> int:
        listener = listen("127.0.0.1", 0)
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            nodelay = await accepted
            writer.close()
            return nodelay

    assert asyncio.run(nodelay_of_accepted_connection()) != 0
