"""The dated items of a course in the Learn client (issue 22): one list per kind (every page,
trimmed by `fields=`), one PATCH per item sending only the date fields given, what each answer
to that PATCH means, and when a course starts for a shift from its term."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from harness import learn_refusal as refused
from harness import with_mock_client as run

from rollover.errors import (
    CountRefused,
    DatesRefused,
    LearnNotFound,
    LearnProtocolError,
    LearnServerError,
)
from rollover.learn import (
    DATE_FIELDS,
    Call,
    DatedItem,
    DatedKind,
    LearnClient,
    Meaning,
    meaning,
    nested_body,
)
from rollover.sandbox import validate_request_body

API = "/learn/api/public"
COURSE = "_12_1"
MONDAY = datetime(2027, 1, 18, 14, 0, tzinfo=UTC)
FRIDAY = datetime(2027, 1, 22, 22, 59, tzinfo=UTC)

Answer = httpx.Response | Exception


class Learn:
    """A Learn answering each request with the next answer of its path (an exception is
    raised, as for a lost answer); a path without answers left is a 404."""

    def __init__(self, answers: dict[str, list[Answer]]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def sent(self, method: str) -> list[httpx.Request]:
        """The requests Learn was sent with `method`."""
        return [request for request in self.requests if request.method == method]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.answers.get(request.url.path, [])
        if not queue:
            return refused(404, "not found")
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def page(results: list[dict[str, Any]], next_page: str | None = None) -> httpx.Response:
    """One page of a list, with Learn's host-relative nextPage when more follow."""
    body: dict[str, Any] = {"results": results}
    if next_page is not None:
        body["paging"] = {"nextPage": next_page}
    return httpx.Response(200, json=body)


def content(pk: str, start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """A content item as the list answers it, its release window as given."""
    window = {key: value for key, value in (("start", start), ("end", end)) if value is not None}
    availability: dict[str, Any] = {"adaptiveRelease": window} if window else {}
    return {"id": pk, "title": f"Item {pk}", "availability": availability}


# --- listing -----------------------------------------------------------------------------------


def test_contents_are_listed_recursively_every_page_and_only_dated_ones_returned() -> None:
    """GET v1 contents with recursive=true and fields naming the release window, every page
    followed; items without a date are left out, a missing end is None."""
    contents = f"{API}/v1/courses/{COURSE}/contents"
    learn = Learn(
        {
            contents: [
                page(
                    [content("_1_1", "2027-01-18T14:00:00.000Z"), content("_2_1")],
                    f"{contents}?offset=2&limit=2",
                ),
                page([content("_3_1", end="2027-01-22T22:59:00Z"), {"id": "_4_1"}]),
            ]
        }
    )
    items = run(learn, lambda client: client.dated_items(COURSE, DatedKind.CONTENT))
    start, end = "availability.adaptiveRelease.start", "availability.adaptiveRelease.end"
    assert items == [
        DatedItem(DatedKind.CONTENT, "_1_1", "Item _1_1", {start: MONDAY, end: None}),
        DatedItem(DatedKind.CONTENT, "_3_1", "Item _3_1", {start: None, end: FRIDAY}),
    ]
    first, second = learn.sent("GET")
    assert dict(first.url.params) == {
        "recursive": "true",
        "fields": "id,title,availability.adaptiveRelease",
        "limit": "200",
    }
    assert second.url.params["offset"] == "2"


def test_columns_are_listed_from_v2_with_their_due_date_and_linked_content() -> None:
    """GET v2 gradebook columns: `grading.due` and `contentId` (the linked content item); a
    column without a due date is left out, one without contentId links nothing."""
    columns = f"{API}/v2/courses/{COURSE}/gradebook/columns"
    learn = Learn(
        {
            columns: [
                page(
                    [
                        {
                            "id": "_7_1",
                            "name": "Essay 1",
                            "contentId": "_1_1",
                            "grading": {"due": "2027-01-22T22:59:00.000Z"},
                        },
                        {"id": "_8_1", "name": "Total", "grading": {}},
                        {"id": "_9_1", "name": "Quiz", "grading": {"due": "2027-01-18T14:00Z"}},
                    ]
                )
            ]
        }
    )
    items = run(learn, lambda client: client.dated_items(COURSE, DatedKind.COLUMN))
    assert items == [
        DatedItem(DatedKind.COLUMN, "_7_1", "Essay 1", {"grading.due": FRIDAY}, "_1_1"),
        DatedItem(DatedKind.COLUMN, "_9_1", "Quiz", {"grading.due": MONDAY}, None),
    ]
    [listing] = learn.sent("GET")
    assert dict(listing.url.params) == {"fields": "id,name,contentId,grading", "limit": "200"}


def test_announcements_are_listed_with_their_display_window() -> None:
    """GET v1 announcements trimmed to the display window; one with an empty window is left
    out, an empty string is no date."""
    announcements = f"{API}/v1/courses/{COURSE}/announcements"
    window = {"type": "Restricted", "start": "2027-01-18T14:00:00.000Z", "end": ""}
    learn = Learn(
        {
            announcements: [
                page(
                    [
                        {"id": "_3_1", "title": "Welcome", "availability": {"duration": window}},
                        {"id": "_4_1", "title": "Always", "availability": {"duration": {}}},
                    ]
                )
            ]
        }
    )
    items = run(learn, lambda client: client.dated_items(COURSE, DatedKind.ANNOUNCEMENT))
    dates = {"availability.duration.start": MONDAY, "availability.duration.end": None}
    assert items == [DatedItem(DatedKind.ANNOUNCEMENT, "_3_1", "Welcome", dates)]
    [listing] = learn.sent("GET")
    assert listing.url.params["fields"] == "id,title,availability.duration"


def test_a_date_learn_writes_unreadably_is_a_protocol_error_not_an_empty_date() -> None:
    """A release start that is not a timestamp raises LearnProtocolError naming the field and
    the item: taking it for empty would leave the item unshifted without a word."""
    contents = f"{API}/v1/courses/{COURSE}/contents"
    learn = Learn({contents: [page([content("_1_1", "next Monday")])]})
    with pytest.raises(LearnProtocolError, match=r"availability.adaptiveRelease.start of _1_1"):
        run(learn, lambda client: client.dated_items(COURSE, DatedKind.CONTENT))


def test_a_dated_item_without_an_id_is_a_protocol_error() -> None:
    """A dated item Learn lists without an id cannot be patched: LearnProtocolError."""
    columns = f"{API}/v2/courses/{COURSE}/gradebook/columns"
    learn = Learn({columns: [page([{"name": "Quiz", "grading": {"due": "2027-01-18T14:00Z"}}])]})
    with pytest.raises(LearnProtocolError, match="a dated column without an id"):
        run(learn, lambda client: client.dated_items(COURSE, DatedKind.COLUMN))


@pytest.mark.parametrize(
    ("kind", "path", "entitlement"),
    [
        (DatedKind.CONTENT, "v1/courses/_12_1/contents", "course.content.MODIFY"),
        (DatedKind.COLUMN, "v2/courses/_12_1/gradebook/columns", "course.gradebook.MODIFY"),
        (DatedKind.ANNOUNCEMENT, "v1/courses/_12_1/announcements", "course.announcements.MODIFY"),
    ],
)
def test_a_refused_list_names_the_entitlement(kind: DatedKind, path: str, entitlement: str) -> None:
    """403 on a kind's list is CountRefused (the run stops, resumable) naming the entitlement
    the integration user lacks, for every course alike."""
    learn = Learn({f"{API}/{path}": [refused(403, "Forbidden")]})
    with pytest.raises(CountRefused) as raised:
        run(learn, lambda client: client.dated_items(COURSE, kind))
    assert entitlement in raised.value.entitlement
    assert COURSE in raised.value.message


def test_a_list_failing_with_a_502_is_read_again() -> None:
    """A 502 to a list (a read) is retried; the second answer's items are returned."""
    columns = f"{API}/v2/courses/{COURSE}/gradebook/columns"
    due = {"id": "_7_1", "name": "Essay", "grading": {"due": "2027-01-22T22:59:00Z"}}
    learn = Learn({columns: [refused(502, "Bad gateway"), page([due])]})
    items = run(learn, lambda client: client.dated_items(COURSE, DatedKind.COLUMN))
    assert [item.id for item in items] == ["_7_1"] and len(learn.sent("GET")) == 2


# --- patching ----------------------------------------------------------------------------------

ITEM_PATHS = {
    DatedKind.CONTENT: (
        f"{API}/v1/courses/{COURSE}/contents/_1_1",
        "/learn/api/public/v1/courses/{courseId}/contents/{contentId}",
    ),
    DatedKind.COLUMN: (
        f"{API}/v2/courses/{COURSE}/gradebook/columns/_1_1",
        "/learn/api/public/v2/courses/{courseId}/gradebook/columns/{columnId}",
    ),
    DatedKind.ANNOUNCEMENT: (
        f"{API}/v1/courses/{COURSE}/announcements/_1_1",
        "/learn/api/public/v1/courses/{courseId}/announcements/{announcementId}",
    ),
}


def patched(
    kind: DatedKind, answers: list[Answer], dates: dict[str, datetime]
) -> tuple[Learn, int]:
    """Learn after one patch_dates of item _1_1 of `kind`, and the changes the client counted."""
    learn = Learn({ITEM_PATHS[kind][0]: answers})

    async def patch(client: LearnClient) -> int:
        await client.patch_dates(COURSE, kind, "_1_1", dates)
        return client.changes_sent

    return learn, run(learn, patch)


@pytest.mark.parametrize(
    ("kind", "dates", "body"),
    [
        (
            DatedKind.CONTENT,
            {"availability.adaptiveRelease.start": MONDAY},
            {"availability": {"adaptiveRelease": {"start": "2027-01-18T14:00:00.000Z"}}},
        ),
        (
            DatedKind.CONTENT,
            {
                "availability.adaptiveRelease.start": MONDAY,
                "availability.adaptiveRelease.end": FRIDAY,
            },
            {
                "availability": {
                    "adaptiveRelease": {
                        "start": "2027-01-18T14:00:00.000Z",
                        "end": "2027-01-22T22:59:00.000Z",
                    }
                }
            },
        ),
        (
            DatedKind.COLUMN,
            {"grading.due": FRIDAY},
            {"grading": {"due": "2027-01-22T22:59:00.000Z"}},
        ),
        (
            DatedKind.ANNOUNCEMENT,
            {"availability.duration.end": FRIDAY},
            {"availability": {"duration": {"end": "2027-01-22T22:59:00.000Z"}}},
        ),
    ],
)
def test_a_patch_sends_only_the_given_dates_nested_and_valid_against_the_spec(
    kind: DatedKind, dates: dict[str, datetime], body: dict[str, Any]
) -> None:
    """One PATCH to the kind's item endpoint whose body is exactly the given date fields,
    nested, in Learn's UTC form, valid against the official spec; it counts as a change."""
    learn, changes = patched(kind, [httpx.Response(200, json={"id": "_1_1"})], dates)
    [patch] = learn.requests
    assert patch.method == "PATCH" and patch.url.path == ITEM_PATHS[kind][0]
    sent = httpx.Response(200, content=patch.content).json()
    assert sent == body
    assert validate_request_body("PATCH", ITEM_PATHS[kind][1], sent) == []
    assert changes == 1


def test_a_patch_is_sent_again_after_a_502() -> None:
    """The PATCH is idempotent (absolute values): a 502 is retried with the same body."""
    learn, _ = patched(
        DatedKind.COLUMN,
        [refused(502, "Bad gateway"), httpx.Response(200, json={"id": "_1_1"})],
        {"grading.due": FRIDAY},
    )
    first, second = learn.sent("PATCH")
    assert first.content == second.content


def test_a_patch_whose_answer_was_lost_is_sent_again() -> None:
    """A PATCH whose answer never came (timeout) is sent again, the same body: applied twice it
    still says the same date."""
    learn, _ = patched(
        DatedKind.CONTENT,
        [httpx.ReadTimeout("lost"), httpx.Response(204)],
        {"availability.adaptiveRelease.end": FRIDAY},
    )
    first, second = learn.sent("PATCH")
    assert first.content == second.content


def test_a_patch_failing_after_its_retries_raises_the_servers_error() -> None:
    """5xx on every attempt ends as LearnServerError (resumable), not a refusal."""
    with pytest.raises(LearnServerError):
        patched(
            DatedKind.ANNOUNCEMENT,
            [refused(503, "busy") for _ in range(4)],
            {"availability.duration.start": MONDAY},
        )


@pytest.mark.parametrize("status", [400, 409])
def test_a_refused_patch_is_dates_refused_with_learns_message(status: int) -> None:
    """400/409 (a rule such as the release window ending after the due date) is DatesRefused
    carrying Learn's own message, the item and its kind; it is not sent again."""
    message = "Adaptive release end date must be before the due date"
    with pytest.raises(DatesRefused) as raised:
        patched(
            DatedKind.CONTENT,
            [refused(status, message)],
            {"availability.adaptiveRelease.end": FRIDAY},
        )
    error = raised.value
    assert (error.status, error.learn_message, error.kind, error.item, error.course) == (
        status,
        message,
        "content",
        "_1_1",
        COURSE,
    )
    assert error.entitlement is None
    assert str(error) == error.message and message in error.message
    assert "run the same command again" in (error.hint or "")


@pytest.mark.parametrize(
    ("kind", "entitlement", "dates"),
    [
        (
            DatedKind.CONTENT,
            "course.content.MODIFY",
            {"availability.adaptiveRelease.start": MONDAY},
        ),
        (DatedKind.COLUMN, "course.gradebook.MODIFY", {"grading.due": FRIDAY}),
        (
            DatedKind.ANNOUNCEMENT,
            "course.announcements.MODIFY",
            {"availability.duration.start": MONDAY},
        ),
    ],
)
def test_a_forbidden_patch_names_the_entitlement_and_the_closed_course(
    kind: DatedKind, entitlement: str, dates: dict[str, datetime]
) -> None:
    """403 is DatesRefused naming the kind's entitlement (the spec's words for its PATCH) and
    a course closed to changes as the two causes."""
    with pytest.raises(DatesRefused) as raised:
        patched(kind, [refused(403, "Forbidden")], dates)
    error = raised.value
    assert error.entitlement is not None and entitlement in error.entitlement
    assert entitlement in error.message and "closed" in error.message
    assert entitlement in (error.hint or "")


def test_a_patch_of_an_item_that_is_gone_is_not_found() -> None:
    """404 is LearnNotFound, which the statuses table reads as NOT_FOUND: the item was
    deleted since it was listed, for the engine to record."""
    with pytest.raises(LearnNotFound):
        patched(DatedKind.COLUMN, [refused(404, "Grade column not found")], {"grading.due": FRIDAY})


@pytest.mark.parametrize(
    "dates",
    [{}, {"grading.due": FRIDAY}, {"availability.adaptiveRelease.start": MONDAY, "title": MONDAY}],
)
def test_a_patch_of_no_date_or_another_kinds_field_is_refused_before_sending(
    dates: dict[str, datetime],
) -> None:
    """patch_dates takes some of the kind's own date fields only: anything else is the
    caller's mistake (ValueError), and nothing is sent."""
    learn = Learn({})
    with pytest.raises(ValueError, match="a content PATCH takes some of"):
        run(learn, lambda client: client.patch_dates(COURSE, DatedKind.CONTENT, "_1_1", dates))
    assert learn.sent("PATCH") == []


def test_a_patch_of_a_naive_time_is_refused_before_sending() -> None:
    """A datetime without a zone would be read in this machine's zone, hours off: ValueError,
    and nothing is sent."""
    learn = Learn({})
    naive = {"grading.due": datetime(2027, 1, 22, 22, 59)}
    with pytest.raises(ValueError, match="aware datetimes only"):
        run(learn, lambda client: client.patch_dates(COURSE, DatedKind.COLUMN, "_1_1", naive))
    assert learn.sent("PATCH") == []


def test_the_statuses_table_says_what_each_answer_to_a_dates_patch_means() -> None:
    """Call.SHIFT: any 2xx applied, transient answers retried, 404 the item is gone, 401 fatal,
    400/403/409 the row's refusal."""
    expected = {
        200: Meaning.OK,
        204: Meaning.OK,
        401: Meaning.FATAL,
        404: Meaning.NOT_FOUND,
        400: Meaning.ROW_FAILED,
        403: Meaning.ROW_FAILED,
        409: Meaning.ROW_FAILED,
        429: Meaning.RETRY,
        502: Meaning.RETRY,
        503: Meaning.RETRY,
    }
    assert {status: meaning(Call.SHIFT, status) for status in expected} == expected


def test_every_kinds_date_fields_are_the_shared_decision() -> None:
    """The four kinds and their dotted date fields are exactly those issue 22 shifts (the
    calendar's events only when asked)."""
    assert {kind.value: fields for kind, fields in DATE_FIELDS.items()} == {
        "content": ("availability.adaptiveRelease.start", "availability.adaptiveRelease.end"),
        "column": ("grading.due",),
        "announcement": ("availability.duration.start", "availability.duration.end"),
        "calendar": ("start", "end"),
    }


def test_a_nested_body_is_built_from_dotted_paths() -> None:
    """Dotted paths sharing a parent meet in one nested object; a plain key stays plain."""
    assert nested_body({"a.b.c": 1, "a.b.d": 2, "a.e": 3, "f": 4}) == {
        "a": {"b": {"c": 1, "d": 2}, "e": 3},
        "f": 4,
    }


# --- when a course starts ----------------------------------------------------------------------

COURSE_PATH = f"{API}/v3/courses/{COURSE}"
TERM_PATH = f"{API}/v1/terms/_5_1"


def course_record(duration: dict[str, Any], term: str | None = "_5_1") -> httpx.Response:
    """A course as GET /v3/courses/{id} answers it, trimmed to termId and its duration."""
    body: dict[str, Any] = {"availability": {"duration": duration}}
    if term is not None:
        body["termId"] = term
    return httpx.Response(200, json=body)


def term_record(duration: dict[str, Any]) -> httpx.Response:
    """A term as GET /v1/terms/{id} answers it, trimmed to its duration."""
    return httpx.Response(200, json={"availability": {"duration": duration}})


TERM_RANGE = {
    "type": "DateRange",
    "start": "2027-01-18T14:00:00.000Z",
    "end": "2027-05-07T04:59:00.000Z",
}


def test_a_course_with_its_own_date_range_starts_then_and_its_term_is_not_read() -> None:
    """A DateRange course starts at its own start: one GET of the course, fields asked."""
    own = {"type": "DateRange", "start": "2027-01-22T22:59:00.000Z"}
    learn = Learn({COURSE_PATH: [course_record(own)]})
    assert run(learn, lambda client: client.course_start(COURSE)) == FRIDAY
    [read] = learn.requests
    assert read.url.params["fields"] == "termId,availability.duration"


@pytest.mark.parametrize("course_type", ["Term", "Continuous"])
def test_a_course_without_its_own_range_starts_with_its_term(course_type: str) -> None:
    """A course whose duration is not a DateRange starts when its term (a DateRange) does."""
    learn = Learn(
        {COURSE_PATH: [course_record({"type": course_type})], TERM_PATH: [term_record(TERM_RANGE)]}
    )
    assert run(learn, lambda client: client.course_start(COURSE)) == MONDAY
    assert learn.requests[1].url.params["fields"] == "availability.duration"


@pytest.mark.parametrize(
    ("course", "term"),
    [
        (course_record({"type": "Continuous"}, term=None), None),
        (course_record({"type": "Term"}), term_record({"type": "Continuous"})),
        (course_record({"type": "Term"}), refused(404, "Term not found")),
        (
            course_record({"type": "FixedNumDays", "start": "2027-01-18T14:00Z"}, term=None),
            None,
        ),
    ],
)
def test_a_course_whose_start_nothing_says_has_none(
    course: httpx.Response, term: httpx.Response | None
) -> None:
    """No own range and no term, a term without a range, a term gone, a start beside another
    duration type: None, for the engine to say `term` cannot be computed."""
    answers: dict[str, list[Answer]] = {COURSE_PATH: [course]}
    if term is not None:
        answers[TERM_PATH] = [term]
    assert run(Learn(answers), lambda client: client.course_start(COURSE)) is None


def test_a_course_that_is_gone_has_no_start_to_tell() -> None:
    """The course itself missing is LearnNotFound: the caller decides, nothing is guessed."""
    with pytest.raises(LearnNotFound):
        run(Learn({}), lambda client: client.course_start(COURSE))
