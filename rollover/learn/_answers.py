"""How the client reads Learn's answers: error answers as the exception tree, JSON bodies,
Retry-After.

Part of the client: nothing outside this package needs an `httpx.Response`.
"""

from __future__ import annotations

import email.utils
from datetime import UTC
from typing import Any

import httpx

from rollover.errors import (
    LearnAuthError,
    LearnConflict,
    LearnError,
    LearnNotFound,
    LearnProtocolError,
    LearnRateLimited,
    LearnServerError,
)
from rollover.times import utc_now


def retry_after(response: httpx.Response) -> float | None:
    """The seconds Learn's Retry-After asks for (a number or an HTTP date), or None."""
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
    return max(0.0, (when - utc_now()).total_seconds())


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
        return LearnRateLimited(
            status, message, retry_after=retry_after(response), code=code, endpoint=endpoint
        )
    kind: type[LearnError] = {
        401: LearnAuthError,
        404: LearnNotFound,
        409: LearnConflict,
    }.get(status, LearnServerError if status >= 500 else LearnError)
    return kind(status, message, code=code, endpoint=endpoint)


def json_object(response: httpx.Response, endpoint: str, *, required: bool) -> dict[str, Any]:
    """An answer's JSON object; {} for an empty, non-JSON or non-object answer that was not
    `required`."""
    if not response.content:
        if required:
            raise LearnProtocolError(response.status_code, "empty answer", endpoint=endpoint)
        return {}
    try:
        body = response.json()
    except ValueError:
        if required:
            raise LearnProtocolError(
                response.status_code, "answer is not JSON", endpoint=endpoint
            ) from None
        return {}
    if not isinstance(body, dict):
        if required:
            raise LearnProtocolError(
                response.status_code, "answer is not a JSON object", endpoint=endpoint
            )
        return {}  # e.g. a PATCH answered 200 with a list: applied; its body was not needed
    return body
