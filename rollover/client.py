"""The Learn REST client: the only module that speaks HTTP.

One `httpx.AsyncClient` with redirects off (a client that follows the task's 303 turns it into a
GET of the course and never sees completion), one bearer token shared by every worker, tenacity
retries for idempotent calls only. The copy POST is never retried here: whether it may be sent
again is the engine's decision, made from the ledger and Learn's state.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_random_exponential

from rollover.errors import (
    CopyOutcomeUnknown,
    LearnAuthError,
    LearnConflict,
    LearnError,
    LearnNotFound,
    LearnProtocolError,
    LearnRateLimited,
    LearnServerError,
    LearnUnreachable,
)

API = "/learn/api/public"
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger("rollover.client")


@dataclass(frozen=True)
class TaskPoll:
    """What one poll of a copy task said."""

    status: str
    percent_complete: int | None
    course_pk: str | None  # set once the task answered 303
    started: datetime | None = None  # when Learn says the copy began running, on Learn's clock

    @property
    def finished(self) -> bool:
        """Whether the task will not change any more."""
        return self.course_pk is not None or self.status in ("CompleteWithErrors", "Incomplete")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to insist on idempotent calls: attempts per call and a run-wide budget."""

    attempts: int = 5
    max_wait: float = 60.0
    budget: int = 500


_PRIMARY_ID = re.compile(r"^_\d+_\d+$")
POOL_CONNECTIONS = 4


def learn_datetime(value: object) -> datetime | None:
    """A timestamp as Learn writes it (ISO 8601, UTC when no zone is given), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def course_path(course_id: str, version: str = "v3") -> str:
    """The path of a course given any of Learn's id forms (`_1_1`, `courseId:X`, ...)."""
    return f"{API}/{version}/courses/{quote(course_id, safe=':_-.~')}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def learn_error(response: httpx.Response, endpoint: str) -> LearnError:
    """Turn an error response into the typed error for its status, with Learn's own message."""
    message = f"HTTP {response.status_code}"
    code: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        raw = body.get("message") or body.get("error_description") or body.get("error")
        if isinstance(raw, str) and raw:
            message = raw
        code = str(body["code"]) if body.get("code") is not None else None
    status = response.status_code
    if status == 429:
        return LearnRateLimited(status, message, retry_after=_retry_after(response),
                                code=code, endpoint=endpoint)
    kind: type[LearnError] = {
        401: LearnAuthError, 404: LearnNotFound, 409: LearnConflict,
    }.get(status, LearnServerError if status >= 500 else LearnError)
    return kind(status, message, code=code, endpoint=endpoint)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, LearnError):
        return exc.status in TRANSIENT_STATUSES
    return isinstance(exc, httpx.TransportError)


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
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = urlsplit(self.base_url)[:2]
        self._auth = httpx.BasicAuth(key, secret)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, transport=transport, timeout=timeout,
            follow_redirects=False, verify=verify,
            limits=httpx.Limits(max_connections=POOL_CONNECTIONS,
                                max_keepalive_connections=POOL_CONNECTIONS),
        )
        # A few kept-alive connections serve every worker. Requests wait for one here rather
        # than inside httpcore, whose pool rescans every waiting request on each event: with
        # dozens of workers that scan costs more CPU than the requests themselves.
        self._connections = asyncio.Semaphore(POOL_CONNECTIONS)
        self._retry = retry or RetryPolicy()
        self._retries_left = self._retry.budget
        self._sleep = sleep
        self._monotonic = monotonic
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._paused_until = 0.0
        self.calls: Counter[str] = Counter()
        self.quota_limit: int | None = None
        # Told (endpoint template, HTTP status) of every answer: the engine's audit trail.
        self.on_answer: Callable[[str, int], None] | None = None
        self.quota_remaining: int | None = None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> LearnClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the calls the engine makes ---------------------------------------------------------

    async def copy_course(self, source_id: str, body: dict[str, Any]) -> str:
        """POST a copy request; returns the task Location exactly as Learn sent it.

        Never retried. Raises LearnError subclasses for answers that say the copy was not
        made, LearnUnreachable when the request provably never left, and CopyOutcomeUnknown /
        LearnServerError when Learn may or may not have applied it.
        """
        path = f"{course_path(source_id, 'v2')}/copy"
        endpoint = "POST /v2/courses/{id}/copy"
        try:
            response = await self._send("POST", path, endpoint, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise LearnUnreachable(f"could not connect to {self.base_url}: {exc}") from exc
        except httpx.TransportError as exc:
            raise CopyOutcomeUnknown(
                f"the copy request was sent but its answer was lost ({type(exc).__name__})"
            ) from exc
        if response.status_code != 202:
            raise learn_error(response, endpoint)
        location = str(response.headers.get("Location") or "")
        if not location:
            raise LearnProtocolError(202, "copy accepted without a Location header",
                                     endpoint=endpoint)
        return location

    async def poll_task(self, location: str) -> TaskPoll:
        """GET a task Location once (redirects off): 200 = still going, 303 = complete."""
        endpoint = "GET /v1/courses/{id}/tasks/{id}"
        response = await self._idempotent("GET", self.resolve(location), endpoint,
                                          expect=(200, 303))
        body = self._json(response, endpoint, required=response.status_code == 200)
        status = str(body.get("status") or ("Complete" if response.status_code == 303 else ""))
        percent = body.get("percentComplete")
        percent_complete = int(percent) if isinstance(percent, int | float) else None
        started = learn_datetime(body.get("started"))
        if response.status_code == 200:
            return TaskPoll(status, percent_complete, None, started)
        locations = response.headers.get_list("Location")
        if len(locations) > 1:  # which one names the course? Not a guess to make
            raise LearnProtocolError(303, f"task finished with {len(locations)} Location "
                                          "headers", endpoint=endpoint)
        course_location = locations[0] if locations else None
        if not course_location:
            raise LearnProtocolError(303, "task finished without a Location header",
                                     endpoint=endpoint)
        course_pk = urlsplit(self.resolve(course_location)).path.rstrip("/").rsplit("/", 1)[-1]
        if not _PRIMARY_ID.match(course_pk):  # e.g. two Location headers joined by a proxy
            raise LearnProtocolError(303, f"task finished with an unusable Location "
                                          f"{course_location[:200]!r}", endpoint=endpoint)
        return TaskPoll(status, 100 if percent_complete is None else percent_complete, course_pk,
                        started)

    async def get_course(self, course_id: str, fields: str) -> dict[str, Any]:
        """GET one course (any id form) trimmed to `fields`; LearnNotFound if absent."""
        return await self._get_one(course_path(course_id), "GET /v3/courses/{id}", fields)

    async def get_term(self, term_id: str, fields: str) -> dict[str, Any]:
        """GET one term (`_1_1` or `externalId:X`) trimmed to `fields`; LearnNotFound if absent."""
        path = f"{API}/v1/terms/{quote(term_id, safe=':_-.~')}"
        return await self._get_one(path, "GET /v1/terms/{id}", fields)

    async def list_courses(self, params: dict[str, str],
                           ) -> AsyncGenerator[tuple[list[dict[str, Any]], bool], None]:
        """GET /v3/courses with `params`, one page as each is consumed: (results, more follow).

        A consumer that stops early costs no further call; Learn's `paging.nextPage` is followed.
        """
        endpoint, url = "GET /v3/courses", f"{API}/v3/courses"
        query: dict[str, str] | None = dict(params)
        while True:
            response = await self._idempotent("GET", url, endpoint, params=query)
            body = self._json(response, endpoint, required=True)
            results, paging = body.get("results"), body.get("paging")
            if not isinstance(results, list):
                raise LearnProtocolError(200, "a list without results", endpoint=endpoint)
            following = paging.get("nextPage") if isinstance(paging, dict) else None
            more = isinstance(following, str) and bool(following)
            yield [item for item in results if isinstance(item, dict)], more
            if not more:
                return
            url, query = self.resolve(str(following)), None  # host-relative, offset and all

    async def patch_course(self, course_pk: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH a course by primary id; the same body twice gives the same course."""
        endpoint = "PATCH /v3/courses/{id}"
        response = await self._idempotent("PATCH", course_path(course_pk), endpoint, json=body,
                                          params={"fields": "id"})
        return self._json(response, endpoint, required=False)

    def resolve(self, location: str) -> str:
        """Join a (usually relative) Location to the site; refuse any other host."""
        absolute = urljoin(self.base_url + "/", location)
        if urlsplit(absolute)[:2] != self._origin:
            raise LearnProtocolError(
                0, f"Learn pointed to another host ({urlsplit(absolute).netloc}); "
                   "the token is only ever sent to the configured site")
        return absolute

    # -- plumbing ------------------------------------------------------------------------------

    async def _get_one(self, path: str, endpoint: str, fields: str) -> dict[str, Any]:
        response = await self._idempotent("GET", path, endpoint, params={"fields": fields})
        return self._json(response, endpoint, required=True)

    async def _idempotent(self, method: str, url: str, endpoint: str, *,
                          expect: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        """Send a call that is safe to repeat, with retries on transient failures."""

        async def once() -> httpx.Response:
            response = await self._send(method, url, endpoint, **kwargs)
            if response.status_code not in expect:
                raise learn_error(response, endpoint)
            return response

        return await self._with_retries(endpoint, once)

    async def _with_retries(self, endpoint: str,
                            call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """Run `call` under tenacity: transient failures only, Retry-After as the floor of the
        full-jitter wait, a per-call attempt limit and the run-wide retry budget."""

        def should_retry(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            return exc is not None and _is_transient(exc) and self._retries_left > 0

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            floor = exc.retry_after or 0.0 if isinstance(exc, LearnRateLimited) else 0.0
            jitter = wait_random_exponential(multiplier=0.5, max=self._retry.max_wait)(state)
            return max(floor, jitter)

        def before_sleep(state: RetryCallState) -> None:
            self._retries_left -= 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning("learn.retry", endpoint=endpoint, attempt=state.attempt_number,
                        error=str(exc) or type(exc).__name__)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts), wait=wait, retry=should_retry,
            before_sleep=before_sleep, sleep=self._sleep, reraise=True,
        )
        try:
            response: httpx.Response = await retrying(call)
        except httpx.TransportError as exc:
            raise LearnUnreachable(
                f"{self.base_url} did not answer {endpoint} ({type(exc).__name__})",
                hint="check --base-url and the network, then run again: the ledger resumes",
            ) from exc
        return response

    async def _send(self, method: str, url: str, endpoint: str, **kwargs: Any) -> httpx.Response:
        """One authenticated request; renews the token once if Learn says it is invalid."""
        await self._wait_for_quota()
        token = await self._bearer()
        response = await self._raw(method, url, endpoint, token, **kwargs)
        if response.status_code == 401:
            self._forget_token(token)
            response = await self._raw(method, url, endpoint, await self._bearer(), **kwargs)
            if response.status_code == 401:
                raise LearnAuthError(401, learn_error(response, endpoint).learn_message,
                                     endpoint=endpoint)
        return response

    async def _raw(self, method: str, url: str, endpoint: str, token: str,
                   **kwargs: Any) -> httpx.Response:
        self.calls[endpoint] += 1
        async with self._connections:
            response = await self._http.request(
                method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)
            await response.aread()
        if self.on_answer is not None:
            self.on_answer(endpoint, response.status_code)
        self._note_rate_headers(response)
        return response

    def _note_rate_headers(self, response: httpx.Response) -> None:
        try:
            if "X-Rate-Limit-Remaining" in response.headers:
                self.quota_remaining = int(response.headers["X-Rate-Limit-Remaining"])
            if "X-Rate-Limit-Limit" in response.headers:
                self.quota_limit = int(response.headers["X-Rate-Limit-Limit"])
        except ValueError:
            pass
        if response.status_code == 429:
            # One 429 pauses every worker: otherwise each would spend a call to learn the same.
            pause = _retry_after(response)
            pause = 1.0 if pause is None else pause
            self._paused_until = max(self._paused_until, self._monotonic() + pause)

    async def _wait_for_quota(self) -> None:
        delay = self._paused_until - self._monotonic()
        if delay > 0:
            await self._sleep(delay)

    async def _bearer(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._monotonic() < self._token_expires:
                return self._token
            endpoint = "POST /v1/oauth2/token"

            async def ask() -> httpx.Response:
                self.calls[endpoint] += 1
                response = await self._http.post(
                    f"{API}/v1/oauth2/token", auth=self._auth,
                    data={"grant_type": "client_credentials"})
                if response.status_code != 200:
                    raise learn_error(response, endpoint)
                return response

            try:
                response = await self._with_retries(endpoint, ask)
            except LearnError as exc:
                if exc.status in (400, 401, 403):
                    raise LearnAuthError(
                        exc.status, exc.learn_message, endpoint=endpoint) from None
                raise
            body = self._json(response, endpoint, required=True)
            token, lifetime = body.get("access_token"), body.get("expires_in")
            if not isinstance(token, str) or not isinstance(lifetime, int | float):
                raise LearnProtocolError(200, "token answer without access_token/expires_in",
                                         endpoint=endpoint)
            # Renew before expiry: a token handed out with 2 s left would die in flight.
            margin = min(60.0, float(lifetime) * 0.1)
            self._token, self._token_expires = token, self._monotonic() + lifetime - margin
            return token

    def _forget_token(self, token: str) -> None:
        """Drop a token Learn refused, unless another worker already replaced it."""
        if self._token == token:
            self._token = None

    @staticmethod
    def _json(response: httpx.Response, endpoint: str, *, required: bool) -> dict[str, Any]:
        if not response.content:
            if required:
                raise LearnProtocolError(response.status_code, "empty answer", endpoint=endpoint)
            return {}
        try:
            body = response.json()
        except ValueError:
            if required:
                raise LearnProtocolError(response.status_code, "answer is not JSON",
                                         endpoint=endpoint) from None
            return {}
        if not isinstance(body, dict):
            raise LearnProtocolError(response.status_code, "answer is not a JSON object",
                                     endpoint=endpoint)
        return body
