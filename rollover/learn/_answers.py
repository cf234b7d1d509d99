"""How the client reads Learn's answers: error answers as the exception tree, JSON bodies,
web pages where JSON should be, Retry-After.

Part of the client: nothing outside this package needs an `httpx.Response`.
"""

from __future__ import annotations

import email.utils
import html
import re
from datetime import UTC
from typing import Any

import httpx

from rollover.errors import (
    LearnAnsweredPage,
    LearnAuthError,
    LearnConflict,
    LearnError,
    LearnNotFound,
    LearnProtocolError,
    LearnRateLimited,
    LearnServerError,
    WrongSiteAddress,
)
from rollover.times import utc_now

from ._site import site_root

# Content types of a page meant for a browser: a sign-on form, a proxy's error page.
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# The bytes a JSON text can begin with: anything else is not JSON at all, let alone Learn's.
JSON_STARTS = frozenset(b'{["-0123456789tfn')
TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
TITLE_SEARCHED = 65_536  # bytes of a page searched for its <title>
TITLE_SHOWN = 120  # characters of a title shown

# What to check when Learn's token endpoint refuses the key and secret. The integration user's
# entitlements do not decide the token, but they decide every call after it: checked together.
CREDENTIALS_HINT = (
    "check LEARN_KEY and LEARN_SECRET: they must be the key and secret of the REST application "
    "(from the Anthology Developer Portal), not a user's password; on the site, System Admin > "
    "REST API Integrations must list that application's id, enabled, with a Learn user, "
    "'End user access' and 'Authorized to act as user' set as the site's admins intend; that "
    "integration user's role needs the entitlements to read and copy courses, edit courses and "
    "enrol users. Then run the same command again (no ledger is bound by a refused sign-in)"
)


def web_page(
    response: httpx.Response, base_url: str, *, reads_json: bool
) -> LearnAnsweredPage | None:
    """The error for an answer that is a web page, not Learn's JSON, or None.

    Markup (an HTML content type, or a body that opens with `<`) on any status; and, on a
    success whose JSON the call reads, a body that does not even begin like JSON. Learn's own
    answers, errors included, are JSON: such a page comes from whatever stands in front of it.
    """
    opening = response.content[:512].lstrip()
    if not opening:
        return None
    kind = response.headers.get("content-type", "").partition(";")[0].strip().lower() or None
    markup = kind in PAGE_TYPES or opening.startswith(b"<")
    if not markup and not (reads_json and response.is_success and opening[0] not in JSON_STARTS):
        return None
    return LearnAnsweredPage(
        base_url, content_type=kind, title=page_title(response) if markup else None
    )


def page_title(response: httpx.Response) -> str | None:
    """A web page's <title>, unescaped and on one line, or None when it has none."""
    head = response.content[:TITLE_SEARCHED]
    try:
        text = head.decode(response.encoding or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        text = head.decode("utf-8", "replace")
    found = TITLE.search(text)
    if found is None:
        return None
    title = " ".join(html.unescape(found.group(1)).split())
    if len(title) > TITLE_SHOWN:
        title = title[:TITLE_SHOWN] + "..."
    return title or None


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


def refused_sign_in(
    response: httpx.Response, endpoint: str, base_url: str
) -> LearnAuthError | WrongSiteAddress:
    """Why the token endpoint's address did not grant a token, from an answer that is neither
    a token nor worth asking again: the key or secret refused (an OAuth error on 400, 401 or
    403, as Learn's token endpoint answers: `invalid_client`, "Client authentication
    failed"), or no token endpoint at this address at all (404, 405, a redirect, a 2xx without
    a token, an error in another shape: --base-url is not the site's root)."""
    error = learn_error(response, endpoint)
    try:
        body = response.json()
    except ValueError:
        body = None
    oauth = isinstance(body, dict) and isinstance(body.get("error"), str)
    status = response.status_code
    if oauth and status in (400, 401, 403):
        return LearnAuthError(
            status,
            f"the site refused the REST application's key and secret ({error.learn_message})",
            endpoint=endpoint,
            hint=CREDENTIALS_HINT,
        )
    said = "" if error.learn_message == f"HTTP {status}" else f" ({error.learn_message[:200]})"
    answered = f"it answered {status}{said}" if status != 200 else "it answered 200 without a token"
    return WrongSiteAddress(base_url, site_root(base_url), answered)


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
