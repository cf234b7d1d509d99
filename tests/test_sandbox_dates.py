"""The sandbox's dated items: content release windows, column due dates, announcements' display
windows; their lists and PATCHes (shapes per Learn's spec), Learn's order rules, copies that keep
the dates, the lost-answer fault, and the record of every date moved (old and new)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from harness import FakeClock

from rollover.sandbox import (
    DATE_FIELDS,
    DateChange,
    DatedItem,
    LearnSandbox,
    SandboxConfig,
    SandboxConfigInvalid,
    SeedCourse,
    create_app,
    date_plan,
    load_spec,
    unknown_fields,
)

API = "/learn/api/public"
KEY, SECRET = "rollover-sandbox-key", "rollover-sandbox-secret"
RELEASE_END = "availability.adaptiveRelease.end"
RELEASE_START = "availability.adaptiveRelease.start"
DUE = "grading.due"
COURSES = [
    SeedCourse(
        "SRC-1",
        "Source one",
        contents=12,
        columns=5,
        dated_contents=4,
        dated_columns=3,
        announcements=3,
        calendar_items=2,
        dates_from="2026-03-02",
    ),
    SeedCourse("SHELL-1", "Shell one", shell=True),
    SeedCourse("SHELL-2", "Shell two", shell=True),
]

Scenario = Callable[[httpx.AsyncClient], Awaitable[Any]]


def make(clock: FakeClock | None = None, **options: Any) -> LearnSandbox:
    """A sandbox holding the courses above, changed by `options`."""
    options = {"courses": COURSES, "terms": [], **options}
    return LearnSandbox(SandboxConfig(**options), clock=clock or FakeClock())


def run(sandbox: LearnSandbox, scenario: Scenario, **app_options: Any) -> Any:
    """Run `scenario` against the sandbox app in-process, signed in."""

    async def main() -> Any:
        transport = httpx.ASGITransport(app=create_app(sandbox, **app_options))
        async with httpx.AsyncClient(transport=transport, base_url="http://learn.test") as client:
            token = await client.post(
                f"{API}/v1/oauth2/token",
                auth=(KEY, SECRET),
                data={"grant_type": "client_credentials"},
            )
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            return await scenario(client)

    return asyncio.run(main())


def one(sandbox: LearnSandbox, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One call to the sandbox app."""

    async def call(client: httpx.AsyncClient) -> httpx.Response:
        return await client.request(method, f"{API}{path}", **kwargs)

    response: httpx.Response = run(sandbox, call)
    return response


def move_release_start(sandbox: LearnSandbox, content_id: str, start: str) -> httpx.Response:
    """PATCH the adaptive-release start (only) of a content item of SRC-1."""
    return one(
        sandbox,
        "PATCH",
        f"/v1/courses/courseId:SRC-1/contents/{content_id}",
        json={"availability": {"adaptiveRelease": {"start": start}}},
    )


def items(sandbox: LearnSandbox, course: str, kind: str) -> list[DatedItem]:
    """The course's dated items of one kind."""
    return [item for item in sandbox.dated_items(course) if item.kind == kind]


def linked_pair(sandbox: LearnSandbox, course: str = "courseId:SRC-1") -> tuple[str, str]:
    """(column id, content id) of the first column that grades a content item."""
    column = next(i for i in items(sandbox, course, "column") if i.content_id is not None)
    assert column.content_id is not None
    return column.item_id, column.content_id


def response_schema(path: str) -> dict[str, Any]:
    """The spec's 200 schema of GET `path`, resolvable against its definitions."""
    spec = load_spec()
    schema = spec["paths"][path]["get"]["responses"]["200"]["schema"]
    return {**schema, "definitions": spec["definitions"]}


def paged(sandbox: LearnSandbox, path: str, query: str) -> list[dict[str, Any]]:
    """Every result of a paged GET, each page checked against the spec's schema."""
    template = path.replace("courseId:SRC-1", "{courseId}")
    validator = jsonschema.Draft4Validator(response_schema(f"{API}{template}"))

    async def scenario(client: httpx.AsyncClient) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        url: str | None = f"{API}{path}?{query}"
        while url is not None:
            page = await client.get(url)
            assert page.status_code == 200, page.text
            validator.validate(page.json())
            results += page.json()["results"]
            url = page.json().get("paging", {}).get("nextPage")
        return results

    found: list[dict[str, Any]] = run(sandbox, scenario)
    return found


# -- seeds and lists ------------------------------------------------------------------------------


def test_a_seeded_source_lists_its_dates_in_learns_shapes_across_pages() -> None:
    """GET contents (recursive), v2 columns and announcements, paged, match the spec and show
    the seeded release windows, due dates, column links and display windows."""
    sandbox = make()
    contents = paged(sandbox, "/v1/courses/courseId:SRC-1/contents", "recursive=true&limit=5")
    columns = paged(sandbox, "/v2/courses/courseId:SRC-1/gradebook/columns", "limit=2")
    shown = paged(sandbox, "/v1/courses/courseId:SRC-1/announcements", "limit=2")
    released = [c for c in contents if "adaptiveRelease" in c["availability"]]
    assert len(contents) == 12 and len(released) == 4
    assert released[0]["availability"]["adaptiveRelease"] == {
        "start": "2026-03-02T14:00:00.000Z",
        "end": "2026-03-09T14:00:00.000Z",
    }
    assert [c["grading"].get("due") for c in columns] == [
        "2026-03-09T14:00:00.000Z",
        "2026-03-16T14:00:00.000Z",
        "2026-03-23T14:00:00.000Z",
        None,
        None,
    ]
    assert [c.get("contentId") for c in columns[:3]] == [r["id"] for r in released[:3]]
    assert [a["availability"]["duration"] for a in shown] == [
        {
            "type": "Restricted",
            "start": "2026-03-02T13:00:00.000Z",
            "end": "2026-03-16T13:00:00.000Z",
        },
        {"type": "Restricted", "start": "2026-03-09T13:00:00.000Z"},
        {
            "type": "Restricted",
            "start": "2026-03-16T13:00:00.000Z",
            "end": "2026-03-30T13:00:00.000Z",
        },
    ]


def test_columns_filtered_by_content_id_are_those_grading_that_item() -> None:
    """GET v2 columns?contentId=X answers only the column linked to content X."""
    sandbox = make()
    column_id, content_id = linked_pair(sandbox)
    path = "/v2/courses/courseId:SRC-1/gradebook/columns"
    assert [c["id"] for c in paged(sandbox, path, f"contentId={content_id}")] == [column_id]


def test_dated_items_lists_every_dated_item_and_only_those() -> None:
    """dated_items: 4 contents, 3 columns, 3 announcements, 2 calendar items, each with only the
    dates it has; an empty shell has none."""
    sandbox = make()
    found = sandbox.dated_items("courseId:SRC-1")
    assert [i.kind for i in found] == (
        ["content"] * 4 + ["column"] * 3 + ["announcement"] * 3 + ["calendar"] * 2
    )
    assert all(set(i.dates) <= set(DATE_FIELDS[i.kind]) and i.dates for i in found)
    unlinked_odd = items(sandbox, "courseId:SRC-1", "content")[3]
    assert set(unlinked_odd.dates) == {RELEASE_START}  # empty dates stay empty
    assert sandbox.dated_items("courseId:SHELL-1") == []


def test_the_default_seed_gives_every_default_source_a_handful_of_dated_items() -> None:
    """Without dated keys a source gets a few dated contents, columns and announcements, with
    every linked content's release ending by its column's due date."""
    sandbox = LearnSandbox(SandboxConfig(), clock=FakeClock())
    for course in ("BIO101-SP26", "CHEM110-SP26", "HIST200-SP26"):
        found = sandbox.dated_items(f"courseId:{course}")
        kinds = {kind: sum(i.kind == kind for i in found) for kind in DATE_FIELDS}
        assert 1 <= kinds["content"] <= 8 and 2 <= kinds["announcement"] <= 5, (course, kinds)
        ends = {i.item_id: i.dates.get(RELEASE_END) for i in found if i.kind == "content"}
        for column in (i for i in found if i.kind == "column"):
            assert column.content_id is None or ends[column.content_id] == column.dates[DUE]


def test_date_plan_lays_weekly_dates_in_utc_from_the_first_day() -> None:
    """date_plan: item k opens on week k; linked or even items close when column k is due."""
    plan = date_plan(date(2026, 1, 12), 3, 1, 1)
    assert plan.releases == (
        ("2026-01-12T14:00:00.000Z", "2026-01-19T14:00:00.000Z"),
        ("2026-01-19T14:00:00.000Z", None),
        ("2026-01-26T14:00:00.000Z", "2026-02-02T14:00:00.000Z"),
    )
    assert plan.dues == ("2026-01-19T14:00:00.000Z",) and plan.linked == 1
    assert plan.announcements == (("2026-01-12T13:00:00.000Z", "2026-01-26T13:00:00.000Z"),)


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("dates_from", "12/01/2026", 'expected a date as YYYY-MM-DD, e.g. "2026-01-12"'),
        ("announcements", -1, "expected a whole number, at least 0"),
    ],
)
def test_a_bad_dated_seed_key_names_course_key_and_value(key: str, value: Any, said: str) -> None:
    """A wrong dated key in a [[courses]] table is refused naming the course, key and value."""
    with pytest.raises(SandboxConfigInvalid, match=f'"X-1" {key} = .*{said}'):
        SandboxConfig.from_dict({"courses": [{"course_id": "X-1", "name": "X", key: value}]})


def test_drop_date_responses_takes_patch_numbers_from_one() -> None:
    """drop_date_responses = [0] is refused naming the key and the form expected."""
    with pytest.raises(SandboxConfigInvalid, match="drop_date_responses = 0: expected date PATCH"):
        SandboxConfig(drop_date_responses=[0])


# -- copies ---------------------------------------------------------------------------------------


def copy_into(sandbox: LearnSandbox, clock: FakeClock, target: str, options: Any = None) -> None:
    """Copy SRC-1 into the target shell and let the copy finish."""
    body: dict[str, Any] = {"targetCourse": {"id": f"courseId:{target}"}}
    if options is not None:
        body["copy"] = options
    answer = one(sandbox, "POST", "/v2/courses/courseId:SRC-1/copy", json=body)
    assert answer.status_code == 202, answer.text
    clock.advance(60)


def test_a_copy_brings_every_dated_item_with_its_dates_unchanged() -> None:
    """After an exact copy the target holds the same dates, its columns linked to its own
    copies of the content items."""
    clock = FakeClock()
    sandbox = make(clock)
    copy_into(sandbox, clock, "SHELL-1")
    source, target = sandbox.dated_items("courseId:SRC-1"), sandbox.dated_items("courseId:SHELL-1")
    assert [(i.kind, i.title, i.dates) for i in target] == [
        (i.kind, i.title, i.dates) for i in source
    ]
    target_contents = {i.item_id for i in target if i.kind == "content"}
    links = [i.content_id for i in target if i.kind == "column"]
    assert all(link in target_contents for link in links)


def test_a_copy_brings_announcements_and_columns_only_when_its_options_say() -> None:
    """announcements: false leaves announcements behind; gradebook: false leaves the columns;
    calendar: false leaves the calendar items."""
    clock = FakeClock()
    sandbox = make(clock)
    options_1 = {"announcements": False, "contentAreas": True, "calendar": False}
    copy_into(sandbox, clock, "SHELL-1", options_1)
    copy_into(sandbox, clock, "SHELL-2", {"gradebook": False, "announcements": True})
    kinds_1 = {i.kind for i in sandbox.dated_items("courseId:SHELL-1")}
    kinds_2 = {i.kind for i in sandbox.dated_items("courseId:SHELL-2")}
    assert kinds_1 == {"content", "column"}
    assert kinds_2 == {"content", "announcement", "calendar"}


# -- PATCH ----------------------------------------------------------------------------------------


def test_a_content_patch_changes_only_the_dates_sent_and_records_old_and_new() -> None:
    """PATCH start alone: start moves, end stays; the answer is the item in the spec's shape;
    date_changes holds one change with the old and new values."""
    clock = FakeClock()
    sandbox = make(clock)
    content = items(sandbox, "courseId:SRC-1", "content")[0]
    new_start = "2026-03-01T14:00:00.000Z"
    answer = move_release_start(sandbox, content.item_id, new_start)
    assert answer.status_code == 200, answer.text
    spec = load_spec()
    jsonschema.validate(answer.json(), {"$ref": "#/definitions/Content", **spec})
    assert answer.json()["availability"]["adaptiveRelease"] == {
        "start": new_start,
        "end": content.dates[RELEASE_END],
    }
    assert sandbox.date_changes("courseId:SRC-1") == [
        DateChange(
            "content",
            sandbox.course("courseId:SRC-1").primary_id,  # type: ignore[union-attr]
            content.item_id,
            RELEASE_START,
            content.dates[RELEASE_START],
            new_start,
            clock.now,
            1,
        )
    ]


def test_sending_a_date_it_already_has_is_a_patch_but_no_change() -> None:
    """A re-sent PATCH (same values) is applied and counted but records no date change."""
    sandbox = make()
    column = items(sandbox, "courseId:SRC-1", "column")[2]
    path = f"/v2/courses/courseId:SRC-1/gradebook/columns/{column.item_id}"
    body = {"grading": {"due": "2026-04-01T14:00:00.000Z"}}
    assert one(sandbox, "PATCH", path, json=body).status_code == 200
    assert one(sandbox, "PATCH", path, json=body).status_code == 200
    assert sandbox.record.date_patches == 2
    assert [(c.old, c.new) for c in sandbox.date_changes("courseId:SRC-1")] == [
        (column.dates[DUE], "2026-04-01T14:00:00.000Z")
    ]


def test_an_announcement_patch_moves_its_display_window() -> None:
    """PATCH an announcement's start and end: both move, each a change; the answer matches the
    spec's CourseAnnouncement."""
    sandbox = make()
    shown = items(sandbox, "courseId:SRC-1", "announcement")[0]
    window = {"start": "2026-08-31T13:00:00.000Z", "end": "2026-09-14T13:00:00.000Z"}
    answer = one(
        sandbox,
        "PATCH",
        f"/v1/courses/courseId:SRC-1/announcements/{shown.item_id}",
        json={"availability": {"duration": window}},
    )
    assert answer.status_code == 200, answer.text
    jsonschema.validate(answer.json(), {"$ref": "#/definitions/CourseAnnouncement", **load_spec()})
    assert answer.json()["availability"]["duration"] == {"type": "Restricted", **window}
    assert [c.field for c in sandbox.date_changes("courseId:SRC-1")] == [
        "availability.duration.start",
        "availability.duration.end",
    ]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"contentId": "_1_1"}, "Field 'contentId' is read-only or unknown"),
        ({"grading": {"due": "2026-04-01T14:00:00.000Z", "when": 1}}, "Field 'grading.when'"),
        ({"grading": {"due": "2026-04-01T14:00:00"}}, "is not a 'date-time'"),
        ({"grading": {"due": None}}, "None is not of type 'string'"),
        ({"score": {"possible": 10}}, "Field 'score.possible' is valid in Learn but the sandbox"),
        ([], "must be a JSON object"),
    ],
)
def test_a_column_patch_body_learn_refuses_is_400_and_changes_nothing(body: Any, said: str) -> None:
    """Unknown, read-only, mistyped, naive-dated or unmodelled fields answer 400 naming them."""
    sandbox = make()
    column = items(sandbox, "courseId:SRC-1", "column")[2]
    path = f"/v2/courses/courseId:SRC-1/gradebook/columns/{column.item_id}"
    answer = one(sandbox, "PATCH", path, json=body)
    assert answer.status_code == 400 and said in answer.json()["message"], answer.text
    assert items(sandbox, "courseId:SRC-1", "column")[2] == column
    assert sandbox.record.date_patches == 0


def test_unknown_fields_names_read_only_and_absent_fields_by_dotted_path() -> None:
    """unknown_fields: the spec's read-only and absent fields of a body, nested ones dotted."""
    path = "/learn/api/public/v1/courses/{courseId}/contents/{contentId}"
    body = {"id": "_1_1", "availability": {"adaptiveRelease": {"start": "x", "until": "y"}}}
    assert unknown_fields("patch", path, body) == ["id", "availability.adaptiveRelease.until"]


def test_an_unknown_item_is_404() -> None:
    """PATCH of an item the course does not hold answers 404."""
    answer = one(make(), "PATCH", "/v1/courses/courseId:SRC-1/contents/_999_1", json={"title": "T"})
    assert answer.status_code == 404 and "_999_1" in answer.json()["message"]


# -- Learn's rules between dates ------------------------------------------------------------------


def test_a_release_ending_after_its_columns_due_date_is_refused_from_either_side() -> None:
    """Moving a linked content's end past the due date, or the due date before the end, is a
    400 naming both dates; nothing changes."""
    sandbox = make()
    column_id, content_id = linked_pair(sandbox)
    later = {"availability": {"adaptiveRelease": {"end": "2026-03-10T14:00:00.000Z"}}}
    by_content = one(
        sandbox, "PATCH", f"/v1/courses/courseId:SRC-1/contents/{content_id}", json=later
    )
    by_column = one(
        sandbox,
        "PATCH",
        f"/v2/courses/courseId:SRC-1/gradebook/columns/{column_id}",
        json={"grading": {"due": "2026-03-08T14:00:00.000Z"}},
    )
    for answer in (by_content, by_column):
        assert answer.status_code == 400, answer.text
        assert "must not be after the due date" in answer.json()["message"]
    assert sandbox.date_changes("courseId:SRC-1") == [] and sandbox.record.date_patches == 0


def test_a_forward_shift_passes_when_due_dates_move_before_releases() -> None:
    """+7 days: the column first, then the content, both answer 200; the content first fails."""
    week_later = {
        "start": "2026-03-09T14:00:00.000Z",
        "end": "2026-03-16T14:00:00.000Z",
    }
    wrong = make()
    column_id, content_id = linked_pair(wrong)
    content_path = f"/v1/courses/courseId:SRC-1/contents/{content_id}"
    column_path = f"/v2/courses/courseId:SRC-1/gradebook/columns/{column_id}"
    release = {"availability": {"adaptiveRelease": week_later}}
    due = {"grading": {"due": week_later["end"]}}
    assert one(wrong, "PATCH", content_path, json=release).status_code == 400
    right = make()
    assert one(right, "PATCH", column_path, json=due).status_code == 200
    assert one(right, "PATCH", content_path, json=release).status_code == 200
    assert len(right.date_changes("courseId:SRC-1")) == 3


@pytest.mark.parametrize("kind", ["contents", "announcements"])
def test_a_window_starting_after_it_ends_is_refused(kind: str) -> None:
    """A content release or an announcement window whose start follows its end: 400."""
    sandbox = make()
    item = items(sandbox, "courseId:SRC-1", kind.removesuffix("s"))[0]
    late = "2027-01-01T00:00:00.000Z"
    body = (
        {"availability": {"adaptiveRelease": {"start": late}}}
        if kind == "contents"
        else {"availability": {"duration": {"start": late}}}
    )
    answer = one(sandbox, "PATCH", f"/v1/courses/courseId:SRC-1/{kind}/{item.item_id}", json=body)
    assert answer.status_code == 400 and "must be before its end date" in answer.json()["message"]


def test_a_closed_complete_course_refuses_date_patches() -> None:
    """Once the course is closedComplete, a date PATCH answers 403 and changes nothing."""
    sandbox = make()
    closed = one(sandbox, "PATCH", "/v3/courses/courseId:SRC-1", json={"closedComplete": True})
    assert closed.status_code == 200, closed.text
    shown = items(sandbox, "courseId:SRC-1", "announcement")[0]
    answer = one(
        sandbox,
        "PATCH",
        f"/v1/courses/courseId:SRC-1/announcements/{shown.item_id}",
        json={"title": "Moved"},
    )
    assert answer.status_code == 403 and "closedComplete" in answer.json()["message"]
    assert items(sandbox, "courseId:SRC-1", "announcement")[0] == shown


# -- faults and persistence -----------------------------------------------------------------------


def test_the_nth_date_patch_is_applied_but_its_answer_lost() -> None:
    """drop_date_responses = [2]: the second date PATCH changes the date and answers a 504
    page; the first and third answer 200."""
    sandbox = make(drop_date_responses=[2])
    contents = items(sandbox, "courseId:SRC-1", "content")
    codes = [
        move_release_start(sandbox, content.item_id, "2026-02-01T14:00:00.000Z").status_code
        for content in contents[:3]
    ]
    assert codes == [200, 504, 200]
    assert [c.patch for c in sandbox.date_changes("courseId:SRC-1")] == [1, 2, 3]
    assert sandbox.record.faults["dropped_date_response"] == 1


def test_date_changes_survive_the_state_file_and_its_journal(tmp_path: Path) -> None:
    """Changes made through a journaled app come back from load: dates and record alike."""
    clock = FakeClock()
    state = tmp_path / "learn.sandbox.json"
    sandbox = make(clock)
    column = items(sandbox, "courseId:SRC-1", "column")[2]

    async def scenario(client: httpx.AsyncClient) -> int:
        answer = await client.patch(
            f"{API}/v2/courses/courseId:SRC-1/gradebook/columns/{column.item_id}",
            json={"grading": {"due": "2026-05-01T14:00:00.000Z"}},
        )
        return answer.status_code

    assert run(sandbox, scenario, state_path=state) == 200
    loaded = LearnSandbox.load(state, clock=clock)
    assert loaded.date_changes("courseId:SRC-1") == sandbox.date_changes("courseId:SRC-1")
    assert loaded.dated_items("courseId:SRC-1") == sandbox.dated_items("courseId:SRC-1")
    assert LearnSandbox.from_state(sandbox.to_state(), clock).to_state() == sandbox.to_state()
