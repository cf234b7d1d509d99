"""The client's transport: the only code that sends HTTP requests.

One `httpx.AsyncClient` with redirects off (a client that follows the task's 303 turns it into a
GET of the course and never sees completion), a few kept-alive connections every worker queues
for, the bearer token on every call (`_token`), tenacity retries for idempotent calls only
(`_retry`), Learn's rate headers and its 429 pause shared by every worker, paged lists, and the
Date header of every answer noted for the site's clock (`_site_clock`). How an answer is read,
errors included, is `_answers`; what each status means, `_statuses`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from rollover.errors import (
    LearnAsksToWait,
    LearnAuthError,
    LearnProtocolError,
    LearnUnreachable,
    SiteNotFound,
)

from ._answers import json_object, learn_error, retry_after, web_page
from ._retry import RetryBudget, RetryPolicy
from ._site import shown_url
from ._site_clock import SiteClock
from ._stop import Stop
from ._token import Token

POOL_CONNECTIONS = 4
# The longest Retry-After a run waits out (the contract's 15 minutes); a longer one stops it.
LONGEST_WAIT = 15 * 60.0


class Transport:
    """The wire to one Learn site, shared by every worker through its client."""

    def __init__(
        self,
        base_url: str,
        key: str,
        secret: str,
        *,
        transport: httpx.AsyncBaseTransport | None,
        timeout: float,
        verify: bool | str,
        retry: RetryPolicy,
        stop: Stop,
        monotonic: Callable[[], float],
        clock: Callable[[], datetime],
    ) -> None:
        self.base_url = base_url
        self.shown_url = shown_url(base_url)  # for messages: never a password
        self._origin = urlsplit(base_url)[:2]
        self._http = httpx.AsyncClient(
            base_url=base_url,
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
        self.stop = stop
        self._retries = RetryBudget(retry, stop.pause)
        self._monotonic = monotonic
        self._clock = clock
        self.site_clock = SiteClock(monotonic, clock)
        self.token = Token(key, secret, self, monotonic)
        self._paused_until = 0.0
        self.calls: Counter[str] = Counter()
        # Calls sent (counted in `calls`) whose answer has not come in, so `quota_remaining`
        # does not show them yet: the engine's poll budget keeps them out of its spare calls.
        self.calls_unanswered = 0
        self.quota_limit: int | None = None
        self.quota_remaining: int | None = None
        # Told (endpoint template, HTTP status) of every answer: the engine's audit trail.
        self.on_answer: Callable[[str, int], None] | None = None
        # Told (remaining, limit) of each answer that carries Learn's quota headers.
        self.on_quota: Callable[[int, int | None], None] | None = None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

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

    # -- calls -------------------------------------------------------------------------------

    async def get_one(self, path: str, endpoint: str, fields: str) -> dict[str, Any]:
        """GET one object trimmed to `fields`, retried; LearnNotFound if absent."""
        response = await self.idempotent("GET", path, endpoint, params={"fields": fields})
        return json_object(response, endpoint, required=True)

    async def pages(
        self, url: str, endpoint: str, params: dict[str, str]
    ) -> AsyncGenerator[tuple[list[dict[str, Any]], bool], None]:
        """A paged list, one page as each is consumed: (results, more follow)."""
        query: dict[str, str] | None = dict(params)
        while True:
            response = await self.idempotent("GET", url, endpoint, params=query)
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

    async def all(self, url: str, endpoint: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every item of a paged list (one call per page)."""
        items: list[dict[str, Any]] = []
        async with contextlib.aclosing(self.pages(url, endpoint, params)) as pages:
            async for results, _ in pages:
                items += results
        return items

    async def idempotent(
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
            response = await self.send(method, url, endpoint, **kwargs)
            status = response.status_code
            if status not in expect or not 300 <= status < 400:
                page = web_page(response, self.shown_url, reads_json=reads_json)
                if page is not None:
                    raise page
            if status not in expect:
                raise learn_error(response, endpoint)
            return response

        # Signed in first, outside this call's retries: the sign-in has retries of its own, and
        # its failure (cached for the workers behind it) is not this call's to retry again.
        await self._wait_for_quota()
        await self.token.bearer()
        return await self.with_retries(endpoint, once)

    async def with_retries(
        self, endpoint: str, call: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """Run `call` with the client's retries; a network still failing is LearnUnreachable."""
        try:
            response = await self._retries.run(endpoint, call)
        except httpx.TransportError as exc:
            raise self.unreachable(
                exc, f"{self.base_url} did not answer {endpoint} ({type(exc).__name__})"
            ) from exc
        return response

    def unreachable(self, exc: httpx.TransportError, message: str) -> LearnUnreachable:
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

    async def send(
        self,
        method: str,
        url: str,
        endpoint: str,
        *,
        sending: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One authenticated request, not retried; renews the token once if Learn says it is
        invalid (a sign-on page's 401 says nothing of the token: the caller sees the page).
        `sending` is called just before the request leaves (after every wait)."""
        await self._wait_for_quota()
        token = await self.token.bearer()
        response = await self._raw(method, url, endpoint, token, sending=sending, **kwargs)
        if response.status_code == 401 and not self._is_page(response):
            self.token.forget(token)
            token = await self.token.bearer()
            response = await self._raw(method, url, endpoint, token, sending=sending, **kwargs)
            if response.status_code == 401 and not self._is_page(response):
                raise LearnAuthError(
                    401, learn_error(response, endpoint).learn_message, endpoint=endpoint
                )
        return response

    async def unsigned(self, method: str, url: str, endpoint: str, **kwargs: Any) -> httpx.Response:
        """One request without the bearer token (the sign-in's own), counted, not retried."""
        self.stop.check()
        self.calls[endpoint] += 1
        self.calls_unanswered += 1
        try:
            return await self._http.request(method, url, **kwargs)
        finally:
            self.calls_unanswered -= 1

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
        self.site_clock.note(response)
        self._note_rate_headers(response)
        return response

    def _is_page(self, response: httpx.Response) -> bool:
        """Whether an answer is a web page (markup) rather than Learn's, whatever the call."""
        return web_page(response, self.shown_url, reads_json=False) is not None

    # -- the site's quota ----------------------------------------------------------------------

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
            pause = self.retry_after(response)
            self._paused_until = max(self._paused_until, self._monotonic() + pause)

    def retry_after(self, response: httpx.Response) -> float:
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
