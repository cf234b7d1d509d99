"""The sandbox's course calendar items: seeded in a source's term, copied when the copy asks for
the calendar, listed (GET /v1/calendars/items) only to an enrolled integration user, within at
most 16 weeks, and moved by PATCH /v1/calendars/items/Course/{id} like every other dated item."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from harness import FakeClock
from test_sandbox_dates import API, one, run

from rollover.sandbox import (
    CALENDAR,
    DateChange,
    DatedItem,
    LearnSandbox,
    SandboxConfig,
    SandboxConfigInvalid,
    SeedCourse,
    load_spec,
    seeded_dated_counts,
    unknown_fields,
    validate_request_body,
)

INTEGRATION = "userName:rollover-integration"
LIST = "/v1/calendars/items"
PATCH_PATH = "/learn/api/public/v1/calendars/items/{calendarItemType}/{calendarItemId}"
TERM_START = date(2026, 1, 12)  # FIRST_SEEDED_DAY: the sources name no dates_from
COURSES = [
    SeedCourse("SRC-1", "Source one", contents=6, columns=4, dated_columns=2, calendar_items=3),
    SeedCourse("SRC-2", "Source two", contents=6, columns=2, calendar_items=2),
    SeedCourse("SHELL-1", "Shell one", shell=True),
    SeedCourse("SHELL-2", "Shell two", shell=True),
]
# A span Learn accepts that holds every seeded date of SRC-1.
SPRING = {"since": "2026-01-01T00:00:00.000Z", "until": "2026-04-01T00:00:00.000Z"}


def make(clock: FakeClock | None = None, **options: Any) -> LearnSandbox:
    """A sandbox holding the courses above, changed by `options`."""
    options = {"courses": COURSES, "terms": [], **options}
    return LearnSandbox(SandboxConfig(**options), clock=clock or FakeClock())


def primary(sandbox: LearnSandbox, course_id: str) -> str:
    """The primary id of the course with this courseId."""
    course = sandbox.course(f"courseId:{course_id}")
    assert course is not None
    return course.primary_id


def enrol(sandbox: LearnSandbox, course_id: str) -> None:
    """Enrol the integration user in the course through the API, as any user is enrolled."""
    answer = one(
        sandbox,
        "PUT",
        f"/v1/courses/courseId:{course_id}/users/{INTEGRATION}",
        json={"courseRoleId": "Instructor"},
    )
    assert answer.status_code == 201, answer.text


def listed(sandbox: LearnSandbox, **query: str) -> httpx.Response:
    """One GET /v1/calendars/items with this query."""
    return one(sandbox, "GET", LIST, params=query)


def calendar(sandbox: LearnSandbox, course_id: str) -> list[DatedItem]:
    """The course's calendar items, as dated_items shows them."""
    return [i for i in sandbox.dated_items(f"courseId:{course_id}") if i.kind == CALENDAR]


def move(sandbox: LearnSandbox, item_id: str, body: Any, item_type: str = "Course") -> Any:
    """PATCH one calendar item."""
    return one(sandbox, "PATCH", f"{LIST}/{item_type}/{item_id}", json=body)


def validator() -> jsonschema.Draft4Validator:
    """The spec's schema of the list's 200 answer."""
    spec = load_spec()
    schema = spec["paths"][f"{API}{LIST}"]["get"]["responses"]["200"]["schema"]
    return jsonschema.Draft4Validator({**schema, "definitions": spec["definitions"]})


def utc(text: str) -> datetime:
    """An ISO 8601 UTC time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    """Learn's form of a UTC time: milliseconds and a Z."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- seeds and copies -----------------------------------------------------------------------------


def test_a_seeded_source_has_review_sessions_in_its_term_each_an_hour_long() -> None:
    """Item k of a source runs 15:00-16:00 UTC 2k+1 weeks after its first day, titled Review
    session k+1, within its 16-week term; a shell has none."""
    sandbox = make()
    found = calendar(sandbox, "SRC-1")
    first = datetime.combine(TERM_START, time(15), tzinfo=UTC)
    assert [(i.title, i.dates) for i in found] == [
        (
            f"Review session {k + 1}",
            {
                "start": iso(first + timedelta(weeks=2 * k + 1)),
                "end": iso(first + timedelta(weeks=2 * k + 1, hours=1)),
            },
        )
        for k in range(3)
    ]
    term_end = datetime.combine(TERM_START, time(0), tzinfo=UTC) + timedelta(weeks=16)
    assert all(first <= utc(i.dates["start"]) <= utc(i.dates["end"]) < term_end for i in found)
    assert calendar(sandbox, "SHELL-1") == []


def test_drawing_calendar_counts_leaves_the_older_counts_of_every_course_as_they_were() -> None:
    """seeded_dated_counts draws the calendar count last: its first three counts are the draws
    an earlier sandbox made, and the fourth lies in 2..4."""
    for course_id in ("BIO101-SP26", "CHEM110-SP26", "HIST200-SP26", "X-1"):
        rng = random.Random(f"rollover-sandbox:dated:{course_id}")
        before = (rng.randint(3, 8), rng.randint(2, 6), rng.randint(2, 5))
        counts = seeded_dated_counts(course_id)
        assert counts[:3] == before and 2 <= counts[3] <= 4


def test_a_copy_brings_calendar_items_only_when_its_calendar_option_is_true() -> None:
    """calendar: true copies the items as new ids with the same titles and dates; false copies
    none."""
    clock = FakeClock()
    sandbox = make(clock)
    for shell, wanted in (("SHELL-1", True), ("SHELL-2", False)):
        body = {"targetCourse": {"id": f"courseId:{shell}"}, "copy": {"calendar": wanted}}
        answer = one(sandbox, "POST", "/v2/courses/courseId:SRC-1/copy", json=body)
        assert answer.status_code == 202, answer.text
    clock.advance(60)
    source, copied = calendar(sandbox, "SRC-1"), calendar(sandbox, "SHELL-1")
    assert [(i.title, i.dates) for i in copied] == [(i.title, i.dates) for i in source]
    assert not {i.item_id for i in copied} & {i.item_id for i in source}
    assert calendar(sandbox, "SHELL-2") == []


def test_a_bad_calendar_items_seed_key_names_course_key_and_value() -> None:
    """calendar_items = -1 in a [[courses]] table is refused naming course, key and value."""
    with pytest.raises(SandboxConfigInvalid, match='"X-1" calendar_items = -1: expected a whole'):
        SandboxConfig.from_dict(
            {"courses": [{"course_id": "X-1", "name": "X", "calendar_items": -1}]}
        )


# -- the integration user and enrolment -----------------------------------------------------------


def test_the_integration_user_exists_as_a_plain_user_named_by_the_config() -> None:
    """GET /v1/users/userName:rollover-integration answers 200 (a plain user); another
    integration_user is seeded under its own name."""
    answer = one(make(), "GET", f"/v1/users/{INTEGRATION}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["systemRoleIds"] == ["User"]
    other = make(integration_user="svc-rest")
    assert one(other, "GET", "/v1/users/userName:svc-rest").status_code == 200
    assert one(other, "GET", f"/v1/users/{INTEGRATION}").status_code == 404


def test_the_list_is_empty_until_the_integration_user_is_enrolled() -> None:
    """Not enrolled: 200 with no results (no error); once enrolled by PUT, the course's items."""
    sandbox = make()
    query = {"courseId": primary(sandbox, "SRC-1"), "type": "Course", **SPRING}
    before = listed(sandbox, **query)
    assert before.status_code == 200 and before.json() == {"results": []}
    enrol(sandbox, "SRC-1")
    after = listed(sandbox, **query)
    assert [r["id"] for r in after.json()["results"]] == [
        i.item_id for i in calendar(sandbox, "SRC-1")
    ]


def test_a_seeded_student_enrolment_of_the_integration_user_lists_the_course() -> None:
    """students = ["rollover-integration"] in a [[courses]] table enrols it: the list answers."""
    seeds = [SeedCourse("SRC-9", "Nine", calendar_items=2, students=["rollover-integration"])]
    sandbox = LearnSandbox(SandboxConfig(courses=seeds, terms=[]), clock=FakeClock())
    answer = listed(sandbox, courseId=primary(sandbox, "SRC-9"), type="Course", **SPRING)
    assert len(answer.json()["results"]) == 2


# -- the list's window, types and pages -----------------------------------------------------------


def test_a_span_over_16_weeks_or_ending_before_it_starts_is_400() -> None:
    """until - since of 16 weeks answers 200; a millisecond more, or until before since, 400."""
    sandbox = make()
    enrol(sandbox, "SRC-1")
    since = "2026-01-01T00:00:00.000Z"
    course = primary(sandbox, "SRC-1")
    assert listed(
        sandbox, courseId=course, since=since, until="2026-04-23T00:00:00.000Z"
    ).is_success
    too_long = listed(sandbox, courseId=course, since=since, until="2026-04-23T00:00:00.001Z")
    assert too_long.status_code == 400
    assert "maximum timespan" in too_long.json()["message"]
    assert "16 weeks" in too_long.json()["message"]
    backwards = listed(sandbox, courseId=course, since=since, until="2025-12-31T00:00:00.000Z")
    assert backwards.status_code == 400


def test_since_and_until_are_both_inclusive() -> None:
    """An item starting exactly at since, or exactly at until, is listed; a millisecond past
    either bound, it is not."""
    sandbox = make()
    enrol(sandbox, "SRC-1")
    item = calendar(sandbox, "SRC-1")[1]
    start = utc(item.dates["start"])

    def ids(since: datetime, until: datetime) -> list[str]:
        query = {"since": since.isoformat(), "until": until.isoformat(), "type": "Course"}
        answer = listed(sandbox, courseId=primary(sandbox, "SRC-1"), **query)
        return [r["id"] for r in answer.json()["results"]]

    ms, day = timedelta(milliseconds=1), timedelta(days=1)
    assert ids(start, start + day) == [item.item_id]
    assert ids(start - day, start) == [item.item_id]
    assert ids(start + ms, start + day) == []
    assert ids(start - day, start - ms) == []


def test_without_since_or_until_the_list_spans_two_weeks_from_the_sites_clock() -> None:
    """No since/until: two weeks from now; since alone: two weeks after it; until alone: two
    weeks before it."""
    clock = FakeClock(datetime(2026, 1, 18, tzinfo=UTC).timestamp())
    sandbox = make(clock)
    enrol(sandbox, "SRC-1")
    course = primary(sandbox, "SRC-1")
    first, second, _ = calendar(sandbox, "SRC-1")  # 19 January, 2 February, 16 February

    def ids(**query: str) -> list[str]:
        answer = listed(sandbox, courseId=course, type="Course", **query)
        return [r["id"] for r in answer.json()["results"]]

    assert ids() == [first.item_id]
    assert ids(since="2026-01-20T00:00:00Z") == [second.item_id]
    assert ids(until="2026-02-10T00:00:00Z") == [second.item_id]


def test_the_type_filter_picks_course_items_gradebook_due_dates_or_both() -> None:
    """type=Course: the course's own items; GradebookColumn: one per column with a due date (id
    the column's, start = end = due); no type: both; each page matches the spec; an unknown
    type is a 400."""
    sandbox = make()
    enrol(sandbox, "SRC-1")
    course = primary(sandbox, "SRC-1")
    check = validator()

    def results(**query: str) -> list[dict[str, Any]]:
        answer = listed(sandbox, courseId=course, **SPRING, **query)
        assert answer.status_code == 200, answer.text
        check.validate(answer.json())
        found: list[dict[str, Any]] = answer.json()["results"]
        return found

    own = results(type="Course")
    columns = results(type="GradebookColumn")
    assert [r["id"] for r in own] == [i.item_id for i in calendar(sandbox, "SRC-1")]
    assert {(r["type"], r["calendarId"], r["calendarName"]) for r in own} == {
        ("Course", course, "Source one")
    }
    dues = [i for i in sandbox.dated_items("courseId:SRC-1") if i.kind == "column"]
    assert [(r["id"], r["start"], r["end"], r["type"]) for r in columns] == [
        (i.item_id, i.dates["grading.due"], i.dates["grading.due"], "GradebookColumn") for i in dues
    ]
    assert sorted(r["id"] for r in results()) == sorted(r["id"] for r in own + columns)
    assert results(type="OfficeHours") == []
    unknown = listed(sandbox, courseId=course, type="Lecture", **SPRING)
    assert unknown.status_code == 400 and "'Lecture'" in unknown.json()["message"]


def test_the_list_pages_with_next_page_links_that_keep_the_query() -> None:
    """limit=1 walks every item one page at a time; each nextPage keeps courseId, type, since
    and until; fields trims each result."""
    sandbox = make()
    enrol(sandbox, "SRC-1")
    course = primary(sandbox, "SRC-1")

    async def scenario(client: httpx.AsyncClient) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        query = {"courseId": course, "type": "Course", "limit": "1", "fields": "id,start"}
        page = await client.get(f"{API}{LIST}", params={**query, **SPRING})
        while True:
            assert page.status_code == 200, page.text
            found += page.json()["results"]
            following = page.json().get("paging", {}).get("nextPage")
            if following is None:
                return found
            assert f"courseId={course}" in following and "type=Course" in following
            assert "since=" in following and "until=" in following
            page = await client.get(following)

    assert run(sandbox, scenario) == [
        {"id": i.item_id, "start": i.dates["start"]} for i in calendar(sandbox, "SRC-1")
    ]


def test_calendar_log_records_every_lists_query_and_the_record_counts_its_calls() -> None:
    """calendar_log holds each list's query in order (one without courseId lists every enrolled
    course); the record counts GET /v1/calendars/items and PATCH .../{type}/{id}."""
    sandbox = make()
    enrol(sandbox, "SRC-1")
    enrol(sandbox, "SRC-2")
    course = primary(sandbox, "SRC-1")
    listed(sandbox, courseId=course, type="Course", **SPRING)
    everywhere = listed(sandbox, **SPRING)
    names = {r["calendarName"] for r in everywhere.json()["results"] if r["type"] == "Course"}
    assert names == {"Source one", "Source two"}
    assert sandbox.calendar_log() == [{"courseId": course, "type": "Course", **SPRING}, SPRING]
    item = calendar(sandbox, "SRC-1")[0]
    assert move(sandbox, item.item_id, {"title": "Moved"}).status_code == 200
    assert sandbox.record.calls["GET /v1/calendars/items"] == 2
    assert sandbox.record.calls["PATCH /v1/calendars/items/{type}/{id}"] == 1


# -- PATCH ----------------------------------------------------------------------------------------


def test_a_patch_moves_both_dates_without_enrolment_and_records_each_change() -> None:
    """PATCH {start, end} (the body the client sends, valid by the spec) answers 200 with the
    CalendarItem moved, though the integration user is not enrolled; date_changes holds both."""
    clock = FakeClock()
    sandbox = make(clock)
    item = calendar(sandbox, "SRC-1")[0]
    body = {"start": "2026-05-18T15:00:00.000Z", "end": "2026-05-18T16:00:00.000Z"}
    assert validate_request_body("patch", PATCH_PATH, body) == []
    assert unknown_fields("patch", PATCH_PATH, body) == []
    answer = move(sandbox, item.item_id, body)
    assert answer.status_code == 200, answer.text
    jsonschema.validate(answer.json(), {"$ref": "#/definitions/CalendarItem", **load_spec()})
    assert {k: answer.json()[k] for k in ("id", "type", "start", "end")} == {
        "id": item.item_id,
        "type": "Course",
        **body,
    }
    course = primary(sandbox, "SRC-1")
    assert sandbox.date_changes("courseId:SRC-1") == [
        DateChange(CALENDAR, course, item.item_id, name, item.dates[name], body[name], clock.now, 1)
        for name in ("start", "end")
    ]
    assert calendar(sandbox, "SRC-1")[0].dates == body


def test_a_patch_leaving_start_after_end_is_400_and_changes_nothing() -> None:
    """Moving only the start past the end answers 400; the item and the record are unchanged."""
    sandbox = make()
    item = calendar(sandbox, "SRC-1")[0]
    answer = move(sandbox, item.item_id, {"start": "2026-06-01T15:00:00.000Z"})
    assert answer.status_code == 400 and "must be before its end date" in answer.json()["message"]
    assert calendar(sandbox, "SRC-1")[0] == item and sandbox.record.date_patches == 0


@pytest.mark.parametrize(
    ("item_type", "item_id", "status", "said"),
    [
        ("GradebookColumn", "_1_1", 400, "GradebookColumns must be updated using the Gradebook"),
        ("Course", "_999_1", 404, "_999_1"),
        ("Personal", "_1_1", 404, "_1_1"),
        ("Lecture", "_1_1", 400, "Invalid calendarItemType"),
    ],
)
def test_a_patch_of_no_course_item_is_refused(
    item_type: str, item_id: str, status: int, said: str
) -> None:
    """GradebookColumn items are the Gradebook API's (400); unknown ids and types are refused."""
    sandbox = make()
    answer = move(sandbox, item_id, {"title": "T"}, item_type)
    assert answer.status_code == status and said in answer.json()["message"], answer.text
    assert sandbox.record.date_patches == 0


def test_a_patch_of_a_closed_complete_courses_item_is_403() -> None:
    """Once the course is closedComplete, a calendar PATCH answers 403 and changes nothing."""
    sandbox = make()
    closed = one(sandbox, "PATCH", "/v3/courses/courseId:SRC-1", json={"closedComplete": True})
    assert closed.status_code == 200, closed.text
    item = calendar(sandbox, "SRC-1")[0]
    answer = move(sandbox, item.item_id, {"start": "2026-01-19T14:00:00.000Z"})
    assert answer.status_code == 403 and "closedComplete" in answer.json()["message"]
    assert calendar(sandbox, "SRC-1")[0] == item


def test_a_dropped_date_response_applies_the_calendar_patch_but_answers_504() -> None:
    """drop_date_responses = [2]: the second calendar PATCH moves the item and answers a 504
    page; the first answers 200."""
    sandbox = make(drop_date_responses=[2])
    first, second, _ = calendar(sandbox, "SRC-1")
    later = {"end": "2026-12-01T16:00:00.000Z"}
    assert move(sandbox, first.item_id, later).status_code == 200
    lost = move(sandbox, second.item_id, later)
    assert lost.status_code == 504 and "json" not in lost.headers["content-type"]
    assert calendar(sandbox, "SRC-1")[1].dates["end"] == later["end"]
    assert sandbox.record.faults["dropped_date_response"] == 1


def test_calendar_items_and_log_survive_the_state_file_and_its_journal(tmp_path: Path) -> None:
    """A PATCH and a list made through a journaled app come back from load, with the ids the
    next calendar item would take."""
    clock = FakeClock()
    state = tmp_path / "learn.sandbox.json"
    sandbox = make(clock)
    item = calendar(sandbox, "SRC-1")[0]

    async def scenario(client: httpx.AsyncClient) -> list[int]:
        moved = await client.patch(
            f"{API}{LIST}/Course/{item.item_id}", json={"end": "2026-01-19T17:00:00.000Z"}
        )
        found = await client.get(f"{API}{LIST}", params=SPRING)
        return [moved.status_code, found.status_code]

    assert run(sandbox, scenario, state_path=state) == [200, 200]
    loaded = LearnSandbox.load(state, clock=clock)
    assert loaded.dated_items("courseId:SRC-1") == sandbox.dated_items("courseId:SRC-1")
    assert loaded.date_changes("courseId:SRC-1") == sandbox.date_changes("courseId:SRC-1")
    assert loaded.calendar_log() == [SPRING]
    assert LearnSandbox.from_state(sandbox.to_state(), clock).to_state() == sandbox.to_state()
    assert move(loaded, item.item_id, {"title": "Again"}).status_code == 200
