"""What each HTTP status means for each kind of call (rollover.learn._statuses), and the engine
acting on it: the one table the client, the engine and reconciliation all read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from harness import BASE_URL, Learn, make_learn, row, sections

from rollover.engine import Rollover, RunOptions, RunOutcome
from rollover.errors import (
    LearnConflict,
    LearnError,
    LearnNotFound,
    LearnProtocolError,
    LearnServerError,
)
from rollover.learn import (
    TRANSIENT,
    Call,
    LearnClient,
    Meaning,
    error_meaning,
    found,
    is_transient,
    meaning,
)
from rollover.ledger import ErrorKind, Ledger, LedgerRow, State
from rollover.manifest import ManifestRow
from rollover.plan import row_spec

# --- the table --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "status", "expected"),
    [
        (Call.COPY, 202, Meaning.OK),
        (Call.POLL, 200, Meaning.OK),
        (Call.POLL, 303, Meaning.OK),
        (Call.READ, 200, Meaning.OK),
        (Call.CHANGE, 200, Meaning.OK),
        (Call.CHANGE, 204, Meaning.OK),
        (Call.TOKEN, 200, Meaning.OK),
    ],
)
def test_success_is_the_answer_each_call_documents(
    call: Call, status: int, expected: Meaning
) -> None:
    """202 is a copy's success, 200/303 a poll's, any 2xx the others'."""
    assert meaning(call, status) is expected


@pytest.mark.parametrize("status", [200, 201, 204, 302, 303])
def test_a_copy_answered_other_than_202_is_reconciled(status: int) -> None:
    """A copy POST answered 200, 201, 204 or a redirect (a proxy) may or may not be applied."""
    assert meaning(Call.COPY, status) is Meaning.RECONCILE


@pytest.mark.parametrize("call", list(Call))
def test_401_is_fatal_for_every_call(call: Call) -> None:
    """A 401 (the client already renewed the token once) stops the run, whatever the call."""
    assert meaning(call, 401) is Meaning.FATAL


def test_403_fails_the_row_on_a_copy_and_on_a_change_alike() -> None:
    """403 on the copy POST is a row failure like a 403 on a PATCH, not the run's end."""
    assert meaning(Call.COPY, 403) is Meaning.ROW_FAILED
    assert meaning(Call.CHANGE, 403) is Meaning.ROW_FAILED


def test_only_the_token_refusal_is_fatal_beyond_401() -> None:
    """The token endpoint's 400/403 refuse the credentials (fatal); its transient answers retry."""
    assert meaning(Call.TOKEN, 400) is Meaning.FATAL
    assert meaning(Call.TOKEN, 403) is Meaning.FATAL
    assert meaning(Call.TOKEN, 503) is Meaning.RETRY
    assert [call for call in Call if meaning(call, 403) is Meaning.FATAL] == [Call.TOKEN]


@pytest.mark.parametrize("status", [400, 403, 404, 405, 413, 415, 422])
def test_copy_refusals_fail_the_row(status: int) -> None:
    """Answers that say Learn refused the copy before any work fail only that row."""
    assert meaning(Call.COPY, status) is Meaning.ROW_FAILED


def test_429_on_a_copy_was_not_applied() -> None:
    """Learn's rate limiter answers before any work: the copy may be requested again later."""
    assert meaning(Call.COPY, 429) is Meaning.NOT_APPLIED


@pytest.mark.parametrize("status", [409, 500, 501, 502, 503, 504, 505, 418])
def test_copy_answers_that_prove_nothing_are_reconciled(status: int) -> None:
    """409, 5xx (501 included) and undocumented answers to a copy: ask Learn's courses."""
    assert meaning(Call.COPY, status) is Meaning.RECONCILE


def test_the_transient_statuses() -> None:
    """408, 429 and 500/502/503/504 may pass if sent again; 501 and 505 never will."""
    assert frozenset({408, 429, 500, 502, 503, 504}) == TRANSIENT
    assert all(is_transient(status) for status in TRANSIENT)
    assert not is_transient(501) and not is_transient(505)
    assert not is_transient(400) and not is_transient(404) and not is_transient(200)


@pytest.mark.parametrize("call", [Call.READ, Call.CHANGE, Call.POLL])
@pytest.mark.parametrize("status", sorted(TRANSIENT))
def test_transient_answers_to_repeatable_calls_are_retried(call: Call, status: int) -> None:
    """Calls safe to repeat are retried on a transient answer (the copy POST never is)."""
    assert meaning(call, status) is Meaning.RETRY


def test_501_on_a_change_fails_the_row_and_is_not_retried() -> None:
    """501 says the server never will: a PATCH answered 501 fails its row, no retry."""
    assert meaning(Call.CHANGE, 501) is Meaning.ROW_FAILED
    assert meaning(Call.READ, 501) is Meaning.ROW_FAILED
    assert not is_transient(501)


@pytest.mark.parametrize("status", [404, 410, 418, 302, 501])
def test_a_task_that_cannot_answer_is_gone(status: int) -> None:
    """404 on a poll (and undocumented answers) mean the task is gone: find the course."""
    assert meaning(Call.POLL, status) is Meaning.TASK_GONE


def test_403_on_a_poll_is_not_a_lost_task() -> None:
    """A poll refused (403) is refused, not gone: it fails the row instead of adopting a course."""
    assert meaning(Call.POLL, 403) is Meaning.ROW_FAILED


def test_404_on_a_read_is_not_found_and_on_a_change_fails_the_row() -> None:
    """A read of something absent is for the caller to judge; a PATCH of it fails the row."""
    assert meaning(Call.READ, 404) is Meaning.NOT_FOUND
    assert meaning(Call.CHANGE, 404) is Meaning.ROW_FAILED


def test_protocol_errors_read_as_unknown_copy_and_lost_task() -> None:
    """A malformed answer or a bad Location: reconcile a copy, a task is gone, a token is fatal."""
    for status in (0, 200, 202, 303):
        malformed = LearnProtocolError(status, "answer is not JSON")
        assert error_meaning(Call.COPY, malformed) is Meaning.RECONCILE
        assert error_meaning(Call.POLL, malformed) is Meaning.TASK_GONE
        assert error_meaning(Call.TOKEN, malformed) is Meaning.FATAL
        assert error_meaning(Call.CHANGE, malformed) is Meaning.ROW_FAILED


def test_error_meaning_of_typed_errors_follows_their_status() -> None:
    """Typed errors mean what their status means for the call."""
    assert error_meaning(Call.POLL, LearnNotFound(404, "Task not found")) is Meaning.TASK_GONE
    assert error_meaning(Call.COPY, LearnConflict(409, "taken")) is Meaning.RECONCILE
    assert error_meaning(Call.READ, LearnServerError(503, "busy")) is Meaning.RETRY
    assert error_meaning(Call.COPY, LearnError(403, "Forbidden")) is Meaning.ROW_FAILED


@pytest.mark.parametrize("status", [*range(400, 432), *range(500, 512), 0, 200, 303])
def test_a_copy_into_an_existing_course_means_what_a_copy_means_but_for_409(status: int) -> None:
    """Into an existing course no courseId can be taken: its 409 fails the row; all else alike."""
    expected = Meaning.ROW_FAILED if status == 409 else meaning(Call.COPY, status)
    assert meaning(Call.COPY_INTO, status) is expected
    assert meaning(Call.COPY, 409) is Meaning.RECONCILE


@pytest.mark.parametrize("status", [*range(400, 432), *range(500, 512), 200, 201])
def test_an_enrolment_means_what_a_change_means_but_for_409_and_an_early_404(status: int) -> None:
    """409 to a membership PUT is a member already; 404 while the copy runs is not yet."""
    change = meaning(Call.CHANGE, status)
    assert meaning(Call.ENROL, status) is (Meaning.EXISTS if status == 409 else change)
    early = {409: Meaning.EXISTS, 404: Meaning.NOT_YET}.get(status, change)
    assert meaning(Call.ENROL_EARLY, status) is early


@pytest.mark.parametrize("status", [*range(400, 432), *range(500, 512), 200, 201])
def test_an_attach_means_what_a_change_means_but_for_400_403_409_and_404(status: int) -> None:
    """400 and 409 to a child PUT are read from the child (attached already, or why not); 404
    names a course that does not exist; 403 is an entitlement the integration user lacks for
    every course (the run stops); everything else as for any idempotent change."""
    expected = {
        400: Meaning.CHECK_CHILD,
        409: Meaning.CHECK_CHILD,
        404: Meaning.NOT_FOUND,
        403: Meaning.UNENTITLED,
    }.get(status, meaning(Call.CHANGE, status))
    assert meaning(Call.ATTACH, status) is expected
    assert meaning(Call.ATTACH, 201) is Meaning.OK and meaning(Call.ATTACH, 502) is Meaning.RETRY


@pytest.mark.parametrize("status", [*range(400, 432), *range(500, 512), 200])
def test_a_children_list_means_what_a_read_means_but_for_400(status: int) -> None:
    """Learn's 400 to a children list says the course is not a parent: no children."""
    expected = Meaning.EMPTY if status == 400 else meaning(Call.READ, status)
    assert meaning(Call.CHILDREN, status) is expected


def test_found_is_none_only_when_learn_says_the_thing_does_not_exist() -> None:
    """`found` answers None for a 404 read and raises every other error."""

    async def answer(error: LearnError | None) -> dict[str, str]:
        if error is not None:
            raise error
        return {"id": "_1_1"}

    assert asyncio.run(found(answer(None))) == {"id": "_1_1"}
    assert asyncio.run(found(answer(LearnNotFound(404, "Course not found")))) is None
    for error in (
        LearnError(403, "Forbidden"),
        LearnServerError(503, "busy"),
        LearnProtocolError(404, "answer is not JSON"),
    ):
        with pytest.raises(LearnError):
            asyncio.run(found(answer(error)))


# --- the engine acting on it ------------------------------------------------------------------


def answering(
    learn: Learn, status: int, when: Callable[[httpx.Request], bool]
) -> httpx.AsyncBaseTransport:
    """The sandbox, except that requests `when` picks are answered `status` and never reach it."""
    inner = learn.transport

    class Refusing(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if when(request):
                return httpx.Response(
                    status,
                    json={
                        "status": status,
                        "message": "Forbidden" if status == 403 else "Not Implemented",
                    },
                )
            return await inner.handle_async_request(request)

    return Refusing()


def copy_posts_of(source: str, posts: list[str]) -> Callable[[httpx.Request], bool]:
    """Picks the copy POSTs of `source`, noting the path of every copy POST in `posts`."""

    def picks(request: httpx.Request) -> bool:
        if request.method == "POST" and request.url.path.endswith("/copy"):
            posts.append(request.url.path)
            return source in request.url.path
        return False

    return picks


def run_through(
    learn: Learn, transport: httpx.AsyncBaseTransport, rows: list[ManifestRow], ledger_path: Path
) -> tuple[RunOutcome, dict[str, LedgerRow]]:
    """One engine run over `rows` against `transport`, on the virtual clock."""
    config = learn.sandbox.config

    async def go() -> tuple[RunOutcome, dict[str, LedgerRow]]:
        with Ledger(ledger_path, clock=learn.clock.datetime) as ledger:
            ledger.sync_manifest([row_spec(r) for r in rows])
            async with LearnClient(
                BASE_URL,
                config.key,
                config.secret,
                transport=transport,
                sleep=learn.clock.sleep,
                monotonic=learn.clock.time,
                clock=learn.clock.datetime,
            ) as client:
                outcome = await Rollover(
                    ledger,
                    client,
                    RunOptions(poll_min=1, poll_max=30),
                    clock=learn.clock.datetime,
                    sleep=learn.clock.sleep,
                    monotonic=learn.clock.time,
                ).run()
            return outcome, {r.target_course_id: r for r in ledger.rows()}

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("status", "target", "into_existing", "words"),
    [
        (403, "CHEM-110-SP27", False, "Forbidden"),
        # Into an existing course no courseId of ours can be taken: 409 is a refusal there.
        (409, "HIST-210-SP27", True, "Not Implemented"),
    ],
)
def test_a_refused_copy_post_fails_only_that_row_and_the_run_goes_on(
    tmp_path: Path, status: int, target: str, into_existing: bool, words: str
) -> None:
    """A copy POST answered 403 (or 409 into an existing course) fails its row (copy_refused),
    is never sent again nor reconciled; every other row is copied."""
    learn = make_learn(copy_seconds=20.0)
    refused_row = row(
        9, "CHEM-110-FA26", target, name="Chemistry", copy_into_existing=into_existing
    )
    rows = [*sections(3), refused_row]
    posts: list[str] = []
    refusing = copy_posts_of("CHEM-110-FA26", posts)
    outcome, final = run_through(
        learn, answering(learn, status, refusing), rows, tmp_path / "l.sqlite"
    )
    assert outcome.fatal is None and outcome.stopped is None
    refused = final[target]
    assert (refused.state, refused.error_kind) == (State.FAILED, ErrorKind.COPY_REFUSED)
    assert refused.error == f"Learn refused the copy: {words}"
    assert {t: r.state for t, r in final.items() if t != target} == dict.fromkeys(
        (r.target_course_id for r in sections(3)), State.DONE
    )
    assert learn.sandbox.record.copies_per_target() == {r.target_course_id: 1 for r in sections(3)}
    assert sum("CHEM-110-FA26" in path for path in posts) == 1  # never re-sent


def test_501_on_a_patch_fails_the_row_after_one_request(tmp_path: Path) -> None:
    """A PATCH answered 501 is not retried: the row fails (patch_refused), the others finish."""
    learn = make_learn(copy_seconds=5.0)
    rows = sections(3)
    victim = learn.sandbox  # the PATCH of the second section's course is answered 501
    patches: list[str] = []

    def not_implemented(request: httpx.Request) -> bool:
        if request.method != "PATCH":
            return False
        patches.append(request.url.path)
        course = victim.course("courseId:BIO-101-001-SP27")
        return course is not None and request.url.path.endswith(course.primary_id)

    outcome, final = run_through(
        learn, answering(learn, 501, not_implemented), rows, tmp_path / "l.sqlite"
    )
    assert outcome.fatal is None and outcome.stopped is None
    failed = final["BIO-101-001-SP27"]
    assert (failed.state, failed.error_kind) == (State.FAILED, ErrorKind.PATCH_REFUSED)
    assert failed.course_pk is not None
    assert sum(path.endswith(failed.course_pk) for path in patches) == 1
    assert [final[t].state for t in ("BIO-101-000-SP27", "BIO-101-002-SP27")] == [
        State.DONE,
        State.DONE,
    ]
    assert learn.sandbox.record.copies_per_target() == {r.target_course_id: 1 for r in rows}


@pytest.mark.parametrize("status", [*range(400, 432), *range(500, 512), 200])
def test_a_counted_list_means_what_a_read_means_but_for_403(status: int) -> None:
    """A list the tool counts or reads whole (contents, columns, dated items): 403 is an
    entitlement the integration user lacks for every course (the run stops, naming it);
    everything else as for any read."""
    expected = Meaning.UNENTITLED if status == 403 else meaning(Call.READ, status)
    assert meaning(Call.LIST, status) is expected
