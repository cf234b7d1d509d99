"""The Learn REST client: the only module that sends HTTP requests.

One `httpx.AsyncClient` with redirects off (a client that follows the task's 303 turns it into a
GET of the course and never sees completion), one bearer token shared by every worker, tenacity
retries for idempotent calls only (`_retry`). The copy POST is never retried here: whether
it may be sent again is the engine's decision, made from the ledger and Learn's state. How an
answer is read, errors included, is `_answers`; what each status means, `_statuses`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import socket
import statistics
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import structlog

from rollover.errors import (
    CopyOutcomeUnknown,
    CountRefused,
    LearnAsksToWait,
    LearnAuthError,
    LearnError,
    LearnProtocolError,
    LearnUnreachable,
    RolloverError,
    SiteNotFound,
)
from rollover.times import utc_now

from ._answers import json_object, learn_error, refused_sign_in, retry_after, web_page
from ._ids import API, course_path, is_primary_id, learn_datetime
from ._retry import RetryBudget, RetryPolicy, Sleep
from ._site import Site, shown_url
from ._statuses import Call, Meaning, error_meaning, found, meaning
from ._stop import Stop

log = structlog.get_logger("rollover.client")

# Task statuses Learn ends a copy with when it did not fully succeed.
UNFINISHED_TASK = ("CompleteWithErrors", "Incomplete")


@dataclass(frozen=True)
class TaskPoll:
    """What one poll of a copy task said."""

    status: str
    percent_complete: int | None
    course_pk: str | None  # set once the task answered 303
    started: datetime | None = None  # when Learn says the copy began running, on Learn's clock

    @property
    def unclean(self) -> bool:
        """Whether Learn ended the copy with a warning (CompleteWithErrors, Incomplete): read
        from the task's status, never from the words of a message."""
        return self.status in UNFINISHED_TASK

    @property
    def finished(self) -> bool:
        """Whether the task will not change any more."""
        return self.course_pk is not None or self.unclean


FOLDER = "resource/x-bb-folder"  # a content item's contentHandler.id when it is a folder
LIST_PAGE = 200  # items asked for per page of a content or column list
CLOCK_SAMPLES = 15  # answers whose Date header the site's clock offset is the median of
CLOCK_TOLD = 5.0  # seconds of offset from which it is logged
SIGN_IN_FAILURE_KEPT = 30.0  # seconds a failed sign-in answers for the workers queued behind it
POOL_CONNECTIONS = 4
# What Learn's user of the REST integration needs to list every content item or grade column
# (the official spec's words for GET .../contents and GET /v2/.../gradebook/columns).
CONTENTS_ENTITLEMENT = (
    "course.content.MODIFY (or another of those the spec lists that show every content item, "
    "such as course.content-item.copy.EXECUTE)"
)
COLUMNS_ENTITLEMENT = "course.gradebook.MODIFY"
# The longest Retry-After a run waits out (the contract's 15 minutes); a longer one stops it.
LONGEST_WAIT = 15 * 60.0


class LearnClient:
    """An authenticated Learn site; share one instance between all workers."""

    def __init__(
        self,
        base_url: str,
        key: str,
        secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utc_now,
        verify: bool | str = True,
        stop: Stop | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._shown_url = shown_url(self.base_url)  # for messages: never a password
        self._origin = urlsplit(self.base_url)[:2]
        self._auth = httpx.BasicAuth(key, secret)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            verify=verify,
            limits=httpx.Limits(
                max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS
            ),
        )
        # A few kept-alive connections serve every worker. Requests wait for one here rather
        # than inside httpcore, whose pool rescans every waiting request on each event: with
        # dozens of workers that scan costs more CPU than the requests themselves.
        self._connections = asyncio.Semaphore(POOL_CONNECTIONS)
        # The run's stop: every wait below goes through it, and no call is sent after it.
        self.stop = stop or Stop(sleep)
        self._retries = RetryBudget(retry or RetryPolicy(), self.stop.pause)
        self._monotonic = monotonic
        self._clock = clock
        # Learn's Date header minus this machine's clock, per answer (the latest few).
        self._site_offsets: collections.deque[float] = collections.deque(maxlen=CLOCK_SAMPLES)
        self._offset_told = False
        self.last_site_date: datetime | None = None  # Learn's clock at its latest answer
        self._site_date_seen = 0.0  # when that answer came, on the monotonic clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._sign_in_failed: tuple[float, RolloverError] | None = None
        self._paused_until = 0.0
        self.calls: Counter[str] = Counter()
        # Calls sent (counted in `calls`) whose answer has not come in, so `quota_remaining`
        # does not show them yet: the engine's poll budget keeps them out of its spare calls.
        self.calls_unanswered = 0
        self.quota_limit: int | None = None
        # Told (endpoint template, HTTP status) of every answer: the engine's audit trail.
        self.on_answer: Callable[[str, int], None] | None = None
        self.quota_remaining: int | None = None
        # Called once, when the site first grants a token: the ledger is bound to it then. Any
        # earlier answer (a 404 at a wrong address, a refused key, a sign-on page) binds nothing.
        self.on_token_granted: Callable[[], None] | None = None
        # Told (remaining, limit) of each answer that carries Learn's quota headers.
        self.on_quota: Callable[[int, int | None], None] | None = None
        self._granted = False

    @classmethod
    def for_site(cls, site: Site, **options: Any) -> LearnClient:
        """A client of `site`, signed in with its key and secret on first use."""
        return cls(
            site.base_url,
            site.key,
            site.secret,
            transport=site.transport,
            verify=site.verify,
            **options,
        )

    @property
    def changes_sent(self) -> int:
        """Requests sent that may have changed Learn (copies, PATCHes, enrolments)."""
        return sum(
            count
            for endpoint, count in self.calls.items()
            if not endpoint.startswith("GET ") and "oauth2" not in endpoint
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> LearnClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the calls the engine makes ---------------------------------------------------------

    async def copy_course(
        self, source_id: str, body: dict[str, Any], *, sending: Callable[[], None] | None = None
    ) -> str:
        """POST a copy request; returns the task Location exactly as Learn sent it.

        Never retried. Raises LearnError subclasses for answers that say the copy was not
        made, LearnUnreachable when the request provably never left, and CopyOutcomeUnknown /
        LearnServerError when Learn may or may not have applied it. `sending` is called just
        before the request leaves (after every wait): until then, it was not sent.
        """
        path = f"{course_path(source_id, 'v2')}/copy"
        endpoint = "POST /v2/courses/{id}/copy"
        try:
            response = await self._send("POST", path, endpoint, json=body, sending=sending)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise self._unreachable(exc, f"could not connect to {self.base_url}: {exc}") from exc
        except httpx.TransportError as exc:
            raise CopyOutcomeUnknown(
                f"the copy request was sent but its answer was lost ({type(exc).__name__})"
            ) from exc
        if response.status_code != 202:
            page = web_page(response, self._shown_url, reads_json=False)
            if page is not None:  # whatever stands in front of Learn may have passed it on
                raise CopyOutcomeUnknown(
                    f"{page.message}, to the copy request: Learn may or may not have applied it"
                ) from page
            raise learn_error(response, endpoint)
        location = str(response.headers.get("Location") or "")
        if not location:
            raise LearnProtocolError(
                202, "copy accepted without a Location header", endpoint=endpoint
            )
        return location

    async def poll_task(self, location: str) -> TaskPoll:
        """GET a task Location once (redirects off): 200 = still going, 303 = complete."""
        endpoint = "GET /v1/courses/{id}/tasks/{id}"
        response = await self._idempotent(
            "GET", self.resolve(location), endpoint, expect=(200, 303)
        )
        body = json_object(response, endpoint, required=response.status_code == 200)
        status = str(body.get("status") or ("Complete" if response.status_code == 303 else ""))
        percent = body.get("percentComplete")
        percent_complete = int(percent) if isinstance(percent, int | float) else None
        started = learn_datetime(body.get("started"))
        if response.status_code == 200:
            return TaskPoll(status, percent_complete, None, started)
        locations = response.headers.get_list("Location")
        if len(locations) > 1:  # which one names the course? Not a guess to make
            raise LearnProtocolError(
                303, f"task finished with {len(locations)} Location headers", endpoint=endpoint
            )
        course_location = locations[0] if locations else None
        if not course_location:
            raise LearnProtocolError(
                303, "task finished without a Location header", endpoint=endpoint
            )
        course_pk = urlsplit(self.resolve(course_location)).path.rstrip("/").rsplit("/", 1)[-1]
        if not is_primary_id(course_pk):  # e.g. two Location headers joined by a proxy
            raise LearnProtocolError(
                303,
                f"task finished with an unusable Location {course_location[:200]!r}",
                endpoint=endpoint,
            )
        return TaskPoll(
            status, 100 if percent_complete is None else percent_complete, course_pk, started
        )

    async def get_course(self, course_id: str, fields: str) -> dict[str, Any]:
        """GET one course (any id form) trimmed to `fields`; LearnNotFound if absent."""
        return await self._get_one(course_path(course_id), "GET /v3/courses/{id}", fields)

    async def get_term(self, term_id: str, fields: str) -> dict[str, Any]:
        """GET one term (`_1_1` or `externalId:X`) trimmed to `fields`; LearnNotFound if absent."""
        path = f"{API}/v1/terms/{quote(term_id, safe=':_-.~')}"
        return await self._get_one(path, "GET /v1/terms/{id}", fields)

    async def list_courses(
        self,
        params: dict[str, str],
    ) -> AsyncGenerator[tuple[list[dict[str, Any]], bool], None]:
        """GET /v3/courses with `params`, one page as each is consumed: (results, more follow).

        A consumer that stops early costs no further call; Learn's `paging.nextPage` is followed.
        """
        async for page in self._pages(f"{API}/v3/courses", "GET /v3/courses", params):
            yield page

    async def _pages(
        self, url: str, endpoint: str, params: dict[str, str]
    ) -> AsyncGenerator[tuple[list[dict[str, Any]], bool], None]:
        """A paged list, one page as each is consumed: (results, more follow)."""
        query: dict[str, str] | None = dict(params)
        while True:
            response = await self._idempotent("GET", url, endpoint, params=query)
            body = json_object(response, endpoint, required=True)
            results, paging = body.get("results"), body.get("paging")
            if not isinstance(results, list):
                raise LearnProtocolError(200, "a list without results", endpoint=endpoint)
            following = paging.get("nextPage") if isinstance(paging, dict) else None
            more = isinstance(following, str) and bool(following)
            yield [item for item in results if isinstance(item, dict)], more
            if not more:
                return
            url, query = self.resolve(str(following)), None  # host-relative, offset and all

    async def _all(self, url: str, endpoint: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every item of a paged list (one call per page)."""
        items: list[dict[str, Any]] = []
        async with contextlib.aclosing(self._pages(url, endpoint, params)) as pages:
            async for results, _ in pages:
                items += results
        return items

    async def get_user(self, user_id: str, fields: str) -> dict[str, Any]:
        """GET one user (`_12_1`, `userName:X`, `externalId:X`, `uuid:X`); LearnNotFound if none."""
        path = f"{API}/v1/users/{quote(user_id, safe=':_-.~@')}"
        return await self._get_one(path, "GET /v1/users/{id}", fields)

    async def enrol(self, course_pk: str, user_id: str, role: str) -> str:
        """Enrol a user with `role` (PUT: idempotent); what happened, for the audit trail.

        Learn answers 409 when the user is already a member: that is success once the
        membership is as asked, so a differing role is corrected and a membership made
        unavailable (the SIS disables rather than deletes) is made available again, with one
        PATCH. 404 (user, course or role unknown) and 403 (a user the application may not enrol)
        are raised for the engine to fail the row.
        """
        path = f"{course_path(course_pk, 'v1')}/users/{quote(user_id, safe=':_-.~@')}"
        endpoint = "PUT /v1/courses/{id}/users/{id}"
        body = {"courseRoleId": role, "availability": {"available": "Yes"}}
        try:
            await self._idempotent(
                "PUT", path, endpoint, json=body, expect=(200, 201), reads_json=False
            )
        except LearnError as exc:
            if error_meaning(Call.ENROL, exc) is not Meaning.EXISTS:
                raise
            member = await self._get_one(
                path, "GET /v1/courses/{id}/users/{id}", "courseRoleId,availability.available"
            )
            was = member.get("courseRoleId")
            available = (member.get("availability") or {}).get("available")
            if was == role and available == "Yes":
                return f"{user_id} was already enrolled as {role}"
            await self._idempotent(
                "PATCH",
                path,
                "PATCH /v1/courses/{id}/users/{id}",
                json=body,
                reads_json=False,
            )
            changed = [f"role {was} -> {role}"] if was != role else []
            if available != "Yes":
                changed.append(f"availability {available} -> Yes")
            return f"{user_id} was already enrolled as {was}; now {', '.join(changed)}"
        return f"enrolled {user_id} as {role}"

    async def membership_role(self, course_pk: str, user_id: str) -> str | None:
        """The user's course role in the course (GET one membership), None if not a member."""
        path = f"{course_path(course_pk, 'v1')}/users/{quote(user_id, safe=':_-.~@')}"
        member = await found(self._get_one(path, "GET /v1/courses/{id}/users/{id}", "courseRoleId"))
        if member is None:
            return None
        role = member.get("courseRoleId")
        return role if isinstance(role, str) else ""

    async def content_counts(self, course_pk: str) -> tuple[int, int]:
        """(content items at all levels, those other than empty folders) of a course;
        CountRefused when Learn refuses the list (403)."""
        items = await self._counted(
            f"{course_path(course_pk, 'v1')}/contents",
            "GET /v1/courses/{id}/contents",
            {
                "recursive": "true",
                "fields": "id,hasChildren,contentHandler.id",
                "limit": str(LIST_PAGE),
            },
            counted="content items",
            course=course_pk,
            entitlement=CONTENTS_ENTITLEMENT,
            verify_only=False,
        )
        empty_folders = sum(
            1
            for item in items
            if not item.get("hasChildren")
            and isinstance(item.get("contentHandler"), dict)
            and item["contentHandler"].get("id") == FOLDER
        )
        return len(items), len(items) - empty_folders

    async def column_count(self, course_pk: str) -> int:
        """How many gradebook columns a course has; CountRefused when Learn refuses (403)."""
        columns = await self._counted(
            f"{course_path(course_pk, 'v2')}/gradebook/columns",
            "GET /v2/courses/{id}/gradebook/columns",
            {"fields": "id", "limit": str(LIST_PAGE)},
            counted="gradebook columns",
            course=course_pk,
            entitlement=COLUMNS_ENTITLEMENT,
            verify_only=True,
        )
        return len(columns)

    async def _counted(
        self,
        url: str,
        endpoint: str,
        params: dict[str, str],
        *,
        counted: str,
        course: str,
        entitlement: str,
        verify_only: bool,
    ) -> list[dict[str, Any]]:
        """Every item of a list the tool counts. Learn's 403 there says the integration user
        lacks an entitlement, for every course alike: CountRefused names it."""
        try:
            return await self._all(url, endpoint, params)
        except LearnError as exc:
            if exc.status != 403:
                raise
            raise CountRefused(
                exc.status,
                exc.learn_message,
                counted=counted,
                course=course,
                entitlement=entitlement,
                verify_only=verify_only,
                code=exc.code,
                endpoint=exc.endpoint,
            ) from exc

    async def patch_course(self, course_pk: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH a course by primary id; the same body twice gives the same course."""
        endpoint = "PATCH /v3/courses/{id}"
        response = await self._idempotent(
            "PATCH",
            course_path(course_pk),
            endpoint,
            json=body,
            params={"fields": "id,externalAccessUrl"},
            reads_json=False,  # the answer's course is welcome, not needed
        )
        return json_object(response, endpoint, required=False)

    def course_url(self, course: dict[str, Any]) -> str | None:
        """The course's `externalAccessUrl`, absolute against the site's address: current Learn
        answers a full URL, older releases (and the sandbox) a path a registrar cannot click."""
        url = course.get("externalAccessUrl")
        if not isinstance(url, str) or not url.strip():
            return None
        return urljoin(self.base_url + "/", url.strip())

    def resolve(self, location: str) -> str:
        """Join a (usually relative) Location to the site; refuse any other host."""
        absolute = urljoin(self.base_url + "/", location)
        if urlsplit(absolute)[:2] != self._origin:
            raise LearnProtocolError(
                0,
                f"Learn pointed to another host ({urlsplit(absolute).netloc}); "
                "the token is only ever sent to the configured site",
            )
        return absolute

    # -- plumbing ------------------------------------------------------------------------------

    async def _get_one(self, path: str, endpoint: str, fields: str) -> dict[str, Any]:
        response = await self._idempotent("GET", path, endpoint, params={"fields": fields})
        return json_object(response, endpoint, required=True)

    async def _idempotent(
        self,
        method: str,
        url: str,
        endpoint: str,
        *,
        expect: tuple[int, ...] = (200,),
        reads_json: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a call that is safe to repeat, with retries on transient failures (a web page
        where Learn's JSON should be among them). `reads_json`: the call reads the JSON of a
        success; an expected redirect's body is never read."""

        async def once() -> httpx.Response:
            response = await self._send(method, url, endpoint, **kwargs)
            status = response.status_code
            if status not in expect or not 300 <= status < 400:
                page = web_page(response, self._shown_url, reads_json=reads_json)
                if page is not None:
                    raise page
            if status not in expect:
                raise learn_error(response, endpoint)
            return response

        # Signed in first, outside this call's retries: the sign-in has retries of its own, and
        # its failure (cached for the workers behind it) is not this call's to retry again.
        await self._wait_for_quota()
        await self._bearer()
        return await self._with_retries(endpoint, once)

    async def _with_retries(
        self, endpoint: str, call: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """Run `call` with the client's retries; a network still failing is LearnUnreachable."""
        try:
            response = await self._retries.run(endpoint, call)
        except httpx.TransportError as exc:
            raise self._unreachable(
                exc, f"{self.base_url} did not answer {endpoint} ({type(exc).__name__})"
            ) from exc
        return response

    def _unreachable(self, exc: httpx.TransportError, message: str) -> LearnUnreachable:
        """The error for a site that could not be reached: a host name that does not resolve
        is a usage error (a typo in --base-url), anything else is resumable."""
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, socket.gaierror):
                host = urlsplit(self.base_url).hostname
                return SiteNotFound(
                    f"the host name {host!r} of {self.base_url} does not resolve",
                    hint="check --base-url (or LEARN_BASE_URL) for a typo; the ledger is not "
                    "bound to a site that never answered",
                )
            cause = cause.__cause__ or cause.__context__
        return LearnUnreachable(
            message, hint="check --base-url and the network, then run again: the ledger resumes"
        )

    async def _send(
        self,
        method: str,
        url: str,
        endpoint: str,
        *,
        sending: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One authenticated request; renews the token once if Learn says it is invalid (a
        sign-on page's 401 says nothing of the token: the caller sees the page)."""
        await self._wait_for_quota()
        token = await self._bearer()
        response = await self._raw(method, url, endpoint, token, sending=sending, **kwargs)
        if response.status_code == 401 and not self._is_page(response):
            self._forget_token(token)
            token = await self._bearer()
            response = await self._raw(method, url, endpoint, token, sending=sending, **kwargs)
            if response.status_code == 401 and not self._is_page(response):
                raise LearnAuthError(
                    401, learn_error(response, endpoint).learn_message, endpoint=endpoint
                )
        return response

    async def _raw(
        self,
        method: str,
        url: str,
        endpoint: str,
        token: str,
        *,
        sending: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        self.stop.check()
        if sending is not None:
            sending()
        self.calls[endpoint] += 1
        self.calls_unanswered += 1
        try:
            async with self._connections:
                response = await self._http.request(
                    method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs
                )
                await response.aread()
        finally:
            self.calls_unanswered -= 1
        if self.on_answer is not None:
            self.on_answer(endpoint, response.status_code)
        self._note_site_clock(response)
        self._note_rate_headers(response)
        return response

    def _is_page(self, response: httpx.Response) -> bool:
        """Whether an answer is a web page (markup) rather than Learn's, whatever the call."""
        return web_page(response, self._shown_url, reads_json=False) is not None

    @property
    def site_clock_offset(self) -> float:
        """Seconds Learn's clock is ahead of this machine's (negative: behind), the median of
        the latest answers' Date headers; 0 until an answer has said."""
        if not self._site_offsets:
            return 0.0
        return float(statistics.median(self._site_offsets))

    def site_now(self) -> datetime | None:
        """Learn's clock now: its latest answer's Date plus the monotonic time since, so no
        step of this machine's wall clock moves it; None until an answer has told it."""
        if self.last_site_date is None:
            return None
        return self.last_site_date + timedelta(seconds=self._monotonic() - self._site_date_seen)

    def _note_site_clock(self, response: httpx.Response) -> None:
        dated = response.headers.get_list("Date")
        if not dated:
            return
        try:
            said = email.utils.parsedate_to_datetime(dated[0])
        except (TypeError, ValueError):
            return
        if said.tzinfo is None:
            said = said.replace(tzinfo=UTC)
        # The header has whole seconds, said some time before now: +0.5 s is its middle.
        self.last_site_date = said + timedelta(seconds=0.5)
        self._site_date_seen = self._monotonic()
        self._site_offsets.append((said - self._clock()).total_seconds() + 0.5)
        offset = self.site_clock_offset
        if len(self._site_offsets) >= 3 and abs(offset) > CLOCK_TOLD and not self._offset_told:
            self._offset_told = True
            log.warning(
                "learn.clock_offset",
                seconds=round(offset, 1),
                message=f"Learn's clock is {abs(offset):.0f} s "
                f"{'ahead of' if offset > 0 else 'behind'} this machine's; times from Learn "
                "are compared in Learn's time",
            )

    def _token_granted(self) -> None:
        """Tell `on_token_granted`, once, that the site granted a token."""
        if not self._granted:
            self._granted = True
            if self.on_token_granted is not None:
                self.on_token_granted()

    def _note_rate_headers(self, response: httpx.Response) -> None:
        try:
            if "X-Rate-Limit-Remaining" in response.headers:
                self.quota_remaining = int(response.headers["X-Rate-Limit-Remaining"])
            if "X-Rate-Limit-Limit" in response.headers:
                self.quota_limit = int(response.headers["X-Rate-Limit-Limit"])
        except ValueError:
            pass
        if self.on_quota is not None and self.quota_remaining is not None:
            self.on_quota(self.quota_remaining, self.quota_limit)
        if response.status_code == 429:
            # One 429 pauses every worker: otherwise each would spend a call to learn the same.
            pause = self._retry_after(response)
            self._paused_until = max(self._paused_until, self._monotonic() + pause)

    def _retry_after(self, response: httpx.Response) -> float:
        """The seconds a 429 asks to wait; LearnAsksToWait when that is longer than a run
        waits (Learn takes no call before then: the run stops and says when to run again)."""
        pause = retry_after(response)
        pause = 1.0 if pause is None else pause
        if pause > LONGEST_WAIT:
            until = self._clock() + timedelta(seconds=pause)
            raise LearnAsksToWait(pause, until)
        return pause

    async def _wait_for_quota(self) -> None:
        delay = self._paused_until - self._monotonic()
        if delay > 0:
            await self.stop.pause(delay)

    async def _bearer(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._monotonic() < self._token_expires:
                return self._token
            failed = self._sign_in_failed
            if failed is not None and self._monotonic() < failed[0]:
                # Workers queued behind a sign-in that just failed after all its retries would
                # each run the whole ladder again; the run is stopping, so they stop too.
                raise failed[1]
            try:
                return await self._sign_in()
            except (LearnUnreachable, LearnAuthError) as exc:
                self._sign_in_failed = (self._monotonic() + SIGN_IN_FAILURE_KEPT, exc)
                raise

    async def _sign_in(self) -> str:
        """Ask Learn for the token (its retries included); the caller holds the token lock."""
        endpoint = "POST /v1/oauth2/token"

        async def ask() -> httpx.Response:
            self.stop.check()
            self.calls[endpoint] += 1
            self.calls_unanswered += 1
            try:
                response = await self._http.post(
                    f"{API}/v1/oauth2/token",
                    auth=self._auth,
                    data={"grant_type": "client_credentials"},
                )
            finally:
                self.calls_unanswered -= 1
            page = web_page(response, self._shown_url, reads_json=True)
            if page is not None:
                raise page
            if response.status_code == 200:
                return response
            if response.status_code == 429:
                self._retry_after(response)
            if meaning(Call.TOKEN, response.status_code) is Meaning.RETRY:
                raise learn_error(response, endpoint)
            # A wrong key and a wrong address both end here, and need different fixes.
            raise refused_sign_in(response, endpoint, self._shown_url)

        response = await self._with_retries(endpoint, ask)
        body = json_object(response, endpoint, required=False)
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise refused_sign_in(response, endpoint, self._shown_url)
        if not isinstance(lifetime, int | float):
            raise LearnProtocolError(200, "token answer without expires_in", endpoint=endpoint)
        # Renew before expiry: a token handed out with 2 s left would die in flight.
        margin = min(60.0, float(lifetime) * 0.1)
        self._token, self._token_expires = token, self._monotonic() + lifetime - margin
        self._token_granted()
        return token

    def _forget_token(self, token: str) -> None:
        """Drop a token Learn refused, unless another worker already replaced it."""
        if self._token == token:
            self._token = None
