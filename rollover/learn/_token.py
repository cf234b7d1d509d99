"""The client's bearer token: one sign-in shared by every worker, renewed before it expires,
forgotten when Learn refuses it, and a failed sign-in kept for the workers queued behind it.

The sign-in's request goes over the transport (`SignInWire`), which owns the wire and the
retries; what the token endpoint's answer means is read here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from rollover.errors import LearnAuthError, LearnProtocolError, LearnUnreachable, RolloverError

from ._answers import json_object, learn_error, refused_sign_in, web_page
from ._ids import API
from ._statuses import Call, Meaning, meaning

SIGN_IN_FAILURE_KEPT = 30.0  # seconds a failed sign-in answers for the workers queued behind it
SIGN_IN = "POST /v1/oauth2/token"


class SignInWire(Protocol):
    """What the sign-in needs of the transport."""

    shown_url: str

    async def unsigned(
        self, method: str, url: str, endpoint: str, **kwargs: Any
    ) -> httpx.Response: ...

    async def with_retries(
        self, endpoint: str, call: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response: ...

    def retry_after(self, response: httpx.Response) -> float: ...


class Token:
    """The bearer token of one client, asked of Learn's token endpoint with the key and secret."""

    def __init__(
        self, key: str, secret: str, wire: SignInWire, monotonic: Callable[[], float]
    ) -> None:
        self._auth = httpx.BasicAuth(key, secret)
        self._wire = wire
        self._monotonic = monotonic
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self._sign_in_failed: tuple[float, RolloverError] | None = None
        self._granted = False
        # Called once, when the site first grants a token: the ledger is bound to it then. Any
        # earlier answer (a 404 at a wrong address, a refused key, a sign-on page) binds nothing.
        self.on_granted: Callable[[], None] | None = None

    async def bearer(self) -> str:
        """A token to send: the current one while it lasts, else a new sign-in."""
        async with self._lock:
            if self._token is not None and self._monotonic() < self._expires:
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

    def forget(self, token: str) -> None:
        """Drop a token Learn refused, unless another worker already replaced it."""
        if self._token == token:
            self._token = None

    async def _sign_in(self) -> str:
        """Ask Learn for the token (its retries included); the caller holds the token lock."""
        wire = self._wire

        async def ask() -> httpx.Response:
            response = await wire.unsigned(
                "POST",
                f"{API}/v1/oauth2/token",
                SIGN_IN,
                auth=self._auth,
                data={"grant_type": "client_credentials"},
            )
            page = web_page(response, wire.shown_url, reads_json=True)
            if page is not None:
                raise page
            if response.status_code == 200:
                return response
            if response.status_code == 429:
                wire.retry_after(response)
            if meaning(Call.TOKEN, response.status_code) is Meaning.RETRY:
                raise learn_error(response, SIGN_IN)
            # A wrong key and a wrong address both end here, and need different fixes.
            raise refused_sign_in(response, SIGN_IN, wire.shown_url)

        response = await wire.with_retries(SIGN_IN, ask)
        body = json_object(response, SIGN_IN, required=False)
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise refused_sign_in(response, SIGN_IN, wire.shown_url)
        if not isinstance(lifetime, int | float):
            raise LearnProtocolError(200, "token answer without expires_in", endpoint=SIGN_IN)
        # Renew before expiry: a token handed out with 2 s left would die in flight.
        margin = min(60.0, float(lifetime) * 0.1)
        self._token, self._expires = token, self._monotonic() + lifetime - margin
        if not self._granted:
            self._granted = True
            if self.on_granted is not None:
                self.on_granted()
        return token
