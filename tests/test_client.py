"""The Learn client: tokens, redirects off, Locations, typed errors, retries (never for POST)."""

from __future__ import annotations

import asyncio
import email.utils
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from harness import BASE_URL, VirtualClock, make_learn, mock_client

from rollover.errors import (
    LearnAuthError,
    LearnConflict,
    LearnNotFound,
    LearnProtocolError,
    LearnRateLimited,
    LearnServerError,
    LearnUnreachable,
    SiteNotFound,
)
from rollover.learn import LearnClient, RetryPolicy, learn_error

COPY = {"targetCourse": {"courseId": "NEW-SP27"}, "copy": {"contentAreas": True}}


def test_one_token_for_many_concurrent_workers() -> None:
    """Twenty concurrent calls share a single token request."""
    learn = make_learn()

    async def scenario() -> None:
        async with learn.client() as client:
            await asyncio.gather(
                *(client.get_course("courseId:BIO-101-FA26", "id") for _ in range(20))
            )
            assert client.calls["POST /v1/oauth2/token"] == 1

    asyncio.run(scenario())


def test_token_renewed_before_expiry_once() -> None:
    """A token near its end is renewed once, not once per worker, and calls keep working."""
    learn = make_learn(token_lifetime=100.0)

    async def scenario() -> None:
        async with learn.client() as client:
            await client.get_course("courseId:BIO-101-FA26", "id")
            learn.clock.now += 95  # inside the renewal margin
            await asyncio.gather(
                *(client.get_course("courseId:BIO-101-FA26", "id") for _ in range(5))
            )
            assert client.calls["POST /v1/oauth2/token"] == 2

    asyncio.run(scenario())


def test_invalid_bearer_refreshes_once_and_retries() -> None:
    """A 401 "Bearer token is invalid" gets a new token and the call is repeated once."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if len(seen) == 1:
            return httpx.Response(401, json={"status": 401, "message": "Bearer token is invalid"})
        return httpx.Response(200, json={"id": "_1_1"})

    async def scenario() -> None:
        async with mock_client(handler) as client:
            assert await client.get_course("_1_1", "id") == {"id": "_1_1"}
            assert client.calls["POST /v1/oauth2/token"] == 2

    asyncio.run(scenario())


def test_refused_credentials_are_an_auth_error() -> None:
    """Wrong key/secret: LearnAuthError with Learn's description, and no retries."""
    learn = make_learn()

    async def scenario() -> None:
        config = learn.sandbox.config
        client = LearnClient(
            BASE_URL,
            config.key,
            "wrong",
            transport=learn.transport,
            sleep=learn.clock.sleep,
            monotonic=learn.clock.time,
            clock=learn.clock.datetime,
        )
        async with client:
            with pytest.raises(LearnAuthError):
                await client.get_course("courseId:BIO-101-FA26", "id")
            assert client.calls["POST /v1/oauth2/token"] == 1

    asyncio.run(scenario())


def test_poll_sees_303_with_redirects_off_and_reads_the_course_id() -> None:
    """The 303 is seen (not followed); the new course's id comes from its Location."""
    learn = make_learn(copy_seconds=10.0)

    async def scenario() -> None:
        async with learn.client() as client:
            location = await client.copy_course("courseId:BIO-101-FA26", COPY)
            assert location.startswith("/learn/api/public/v1/courses/")
            first = await client.poll_task(location)
            assert first.course_pk is None and first.status in ("Queued", "Running")
            learn.clock.now += 11
            done = await client.poll_task(location)
            course = learn.sandbox.course("courseId:NEW-SP27")
            assert course is not None and done.course_pk == course.primary_id

    asyncio.run(scenario())


def test_relative_location_joined_and_foreign_host_refused() -> None:
    """Relative Locations resolve against the site; another host is never sent the token."""
    client = mock_client(lambda r: httpx.Response(500))
    assert client.resolve("/learn/api/x") == f"{BASE_URL}/learn/api/x"
    with pytest.raises(LearnProtocolError, match="another host"):
        client.resolve("https://evil.example.com/learn/api/x")


def test_copy_post_is_never_retried() -> None:
    """A 500 on the copy POST surfaces after exactly one request."""
    posts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posts.append(request)
        return httpx.Response(500, json={"status": 500, "message": "boom"})

    async def scenario() -> None:
        async with mock_client(handler) as client:
            with pytest.raises(LearnServerError):
                await client.copy_course("courseId:A", COPY)

    asyncio.run(scenario())
    assert len(posts) == 1


def test_lost_connection_on_connect_is_unreachable_not_ambiguous() -> None:
    """A refused connection means the POST never left: LearnUnreachable."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def scenario() -> None:
        async with mock_client(handler) as client:
            with pytest.raises(LearnUnreachable):
                await client.copy_course("courseId:A", COPY)

    asyncio.run(scenario())


def test_gets_retry_transient_errors_honouring_retry_after() -> None:
    """503 then 429 (Retry-After: 7) then 200: retried, and the wait is at least 7 s."""
    answers = [
        httpx.Response(503, json={"message": "busy"}),
        httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "quota"}),
        httpx.Response(200, json={"id": "_1_1"}),
    ]
    clock = VirtualClock()

    async def scenario() -> None:
        async with mock_client(lambda r: answers.pop(0), clock) as client:
            start = clock.now
            assert await client.get_course("_1_1", "id") == {"id": "_1_1"}
            assert clock.now - start >= 7

    asyncio.run(scenario())
    assert answers == []


def test_permanent_errors_are_typed_with_learns_message() -> None:
    """404 and 409 become LearnNotFound / LearnConflict carrying Learn's message; no retry."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(404, json={"status": "404", "message": "Course not found"})

    async def scenario() -> None:
        async with mock_client(handler) as client:
            with pytest.raises(LearnNotFound) as missing:
                await client.get_course("courseId:X", "id")
            assert missing.value.learn_message == "Course not found"

    asyncio.run(scenario())
    assert len(calls) == 1
    conflict = learn_error(httpx.Response(409, json={"status": 409, "message": "taken"}), "e")
    assert isinstance(conflict, LearnConflict) and conflict.learn_message == "taken"


def test_retry_after_as_http_date() -> None:
    """Retry-After given as an HTTP-date is read as seconds from now."""
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    error = learn_error(httpx.Response(429, headers={"Retry-After": when}), "e")
    assert isinstance(error, LearnRateLimited)
    assert error.retry_after is not None and 100 < error.retry_after <= 120


def test_rate_headers_are_read_from_every_answer() -> None:
    """X-Rate-Limit-Remaining/Limit are kept from the latest response."""
    learn = make_learn(quota_limit=500)

    async def scenario() -> None:
        async with learn.client() as client:
            await client.get_course("courseId:BIO-101-FA26", "id")
            assert client.quota_limit == 500
            assert client.quota_remaining is not None and client.quota_remaining < 500

    asyncio.run(scenario())


def test_malformed_json_answer_is_a_protocol_error() -> None:
    """A 200 whose JSON is malformed is a LearnProtocolError, not a crash (a body that is not
    JSON at all is a web page: see test_site_pages.py)."""

    async def scenario() -> None:
        async with mock_client(lambda r: httpx.Response(200, text='{"id": "_1')) as client:
            with pytest.raises(LearnProtocolError):
                await client.get_course("_1_1", "id")

    asyncio.run(scenario())


def test_a_failed_sign_in_answers_for_the_workers_queued_behind_it() -> None:
    """Learn unreachable: one retry ladder for the sign-in, not one per waiting worker."""
    clock = VirtualClock()
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        raise httpx.ConnectError("refused", request=request)

    async def four_workers() -> list[BaseException | dict[str, object]]:
        client = LearnClient(
            BASE_URL,
            "k",
            "s",
            transport=httpx.MockTransport(refuse),
            sleep=clock.sleep,
            monotonic=clock.time,
            retry=RetryPolicy(attempts=3, max_wait=2.0),
        )
        async with client:
            outcomes: list[BaseException | dict[str, object]] = await asyncio.gather(
                *(client.get_course(f"courseId:C{i}", "id") for i in range(4)),
                return_exceptions=True,
            )
            return outcomes

    outcomes = asyncio.run(four_workers())
    assert all(isinstance(outcome, LearnUnreachable) for outcome in outcomes)
    assert len(attempts) == 3 and set(attempts) == {"/learn/api/public/v1/oauth2/token"}


def unresolvable(request: httpx.Request) -> httpx.Response:
    """What httpx raises for a host name DNS does not know."""
    raise httpx.ConnectError(
        "[Errno -2] Name or service not known", request=request
    ) from socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_a_host_name_that_does_not_resolve_is_site_not_found() -> None:
    """A --base-url typo is SiteNotFound (exit 2, usage), not a resumable outage (exit 3)."""
    clock = VirtualClock()
    answered: list[str] = []

    async def scenario() -> None:
        client = LearnClient(
            "https://learn.exmaple.edu",
            "k",
            "s",
            transport=httpx.MockTransport(unresolvable),
            sleep=clock.sleep,
            monotonic=clock.time,
            retry=RetryPolicy(attempts=2, max_wait=1.0),
        )
        client.on_token_granted = lambda: answered.append("answered")
        async with client:
            with pytest.raises(SiteNotFound) as raised:
                await client.copy_course("courseId:A", COPY)
        assert raised.value.exit_code == 2 and isinstance(raised.value, LearnUnreachable)
        assert "learn.exmaple.edu" in raised.value.message
        assert "--base-url" in (raised.value.hint or "")
        assert client.changes_sent == 0

    asyncio.run(scenario())
    assert answered == []  # the ledger is never bound to a site that never answered


def test_a_refused_connection_stays_resumable() -> None:
    """A connection refused (the host resolves) is LearnUnreachable, exit 3, not SiteNotFound."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def scenario() -> None:
        async with mock_client(refuse) as client:
            with pytest.raises(LearnUnreachable) as raised:
                await client.get_course("courseId:A", "id")
        assert not isinstance(raised.value, SiteNotFound) and raised.value.exit_code == 3

    asyncio.run(scenario())


def test_a_granted_token_is_told_once_and_changes_sent_counts_only_changes() -> None:
    """on_token_granted fires once, at the first token; changes_sent counts POSTs and PATCHes."""
    learn = make_learn(copy_seconds=1.0)
    answered: list[int] = []

    async def scenario() -> None:
        async with learn.client() as client:
            client.on_token_granted = lambda: answered.append(sum(client.calls.values()))
            await client.get_course("courseId:BIO-101-FA26", "id")
            assert answered == [1]  # the sign-in granted the token
            assert client.changes_sent == 0
            location = await client.copy_course("courseId:BIO-101-FA26", COPY)
            learn.clock.now += 2
            done = await client.poll_task(location)
            await client.patch_course(done.course_pk or "", {"name": "New"})
            assert client.changes_sent == 2  # the copy and the PATCH; GETs and sign-in do not
        assert answered == [1]

    asyncio.run(scenario())
