"""How the simulated site serves one call: the state every endpoint shares, then the clock, the
copies finished by now, the gateway in front of Learn, the quota, the bearer token and injected
errors, in the order Learn meets them; and the lookups that answer 404.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable
from typing import Any

from ._access import AccessToken, QuotaBucket, basic_credentials
from ._catalog import Catalog, Course
from ._config import SandboxConfig
from ._copying import CopyQueue
from ._crosslist import CrossListing
from ._record import SandboxRecord
from ._replies import (
    InvalidJson,
    LearnRefusal,
    Reply,
    iso_time,
    learn_error_body,
)
from ._teaching import Teaching

API = "/learn/api/public"
Clock = Callable[[], float]

# What a single sign-on gateway in front of Learn answers a call it has not let through.
SIGN_IN_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in to continue</h1>
<form method="post" action="/idp/profile/SAML2/Redirect/SSO?execution=e1s1">
<label>Username <input name="j_username"></label>
<label>Password <input name="j_password" type="password"></label>
<button type="submit" name="_eventId_proceed">Sign in</button>
</form>
</body>
</html>
"""


class SiteCore:
    """The state of a simulated Learn site and the way each of its endpoints serves a call;
    `LearnSandbox` is built on it, one endpoint family per sibling module."""

    config: SandboxConfig
    clock: Clock
    catalog: Catalog
    teaching: Teaching
    queue: CopyQueue
    token: AccessToken | None
    bucket: QuotaBucket
    record: SandboxRecord
    crosslist: CrossListing
    fault_rng: random.Random
    duration_rng: random.Random
    id_rng: random.Random

    def _hex(self) -> str:
        return f"{self.id_rng.getrandbits(128):032x}"

    def _caught_up(self) -> float:
        # The copies finished by now, applied as the next call would: in end order, so applying
        # them here first changes nothing that call would do.
        now = self.clock()
        self._apply_finished_copies(now)
        return now

    def _known(self, course_ref: str) -> Course:
        course = self.catalog.find_course(course_ref)
        if course is None:
            raise KeyError(f"the sandbox has no course {course_ref}")
        return course

    def request_token(self, authorization: str | None, form: dict[str, str]) -> Reply:
        """POST /v1/oauth2/token: the application's one token, with its remaining lifetime."""
        page = self._gateway_page()
        if page is not None:
            return page
        now = self._begin("POST /v1/oauth2/token")
        gateway = self._gateway_refusal()
        if gateway is not None:
            return gateway
        if not self.bucket.take(now):
            return self._refused(
                LearnRefusal(429, "Too many requests", headers=self._retry_after()), rate=False
            )
        if basic_credentials(authorization) != (self.config.key, self.config.secret):
            return _oauth_error(401, "Client authentication failed")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "Unsupported or missing grant_type")
        if self.token is None or not self.token.valid_at(now):
            self.token = AccessToken(self._hex(), now + self.config.token_lifetime)
        expires_in = self.token.expires_in(now)
        return Reply(
            200,
            {"access_token": self.token.value, "token_type": "bearer", "expires_in": expires_in},
        )

    def unknown_endpoint(
        self, method: str, authorization: str | None, path: str = f"{API}/"
    ) -> Reply:
        """Any path Learn does not serve: 404 in Learn's error shape. Outside the REST API (where
        a --base-url naming a /webapps/... page sends the token request) the web server answers
        404 before any token is looked at, and charges no API quota."""

        def refuse(now: float) -> Reply:
            raise LearnRefusal(404, "The requested resource was not found")

        if not path.startswith(f"{API}/"):
            page = self._gateway_page()
            if page is not None:
                return page
            self._begin(f"{method} <unknown>")
            return Reply(404, {"status": 404, "message": "The requested resource was not found"})
        return self._serve(f"{method} <unknown>", authorization, refuse)

    def _begin(self, call: str) -> float:
        now = self.clock()
        self._apply_finished_copies(now)
        self.record.calls[call] += 1
        return now

    def site_time(self, now: float) -> str:
        """`now` as Learn's own clock shows it (`clock_skew` off the true time)."""
        return iso_time(now + self.config.clock_skew)

    def _serve(
        self, call: str, authorization: str | None, action: Callable[[float], Reply]
    ) -> Reply:
        reply = self._serve_dated(call, authorization, action)
        # Every answer carries the site's clock, as Learn's web servers' Date header does.
        reply.headers["Date"] = email.utils.formatdate(
            self.clock() + self.config.clock_skew, usegmt=True
        )
        return reply

    def _serve_dated(
        self, call: str, authorization: str | None, action: Callable[[float], Reply]
    ) -> Reply:
        page = self._gateway_page()
        if page is not None:
            return page
        now = self._begin(call)
        gateway = self._gateway_refusal()
        if gateway is not None:
            return gateway
        # The call is charged before anything else is looked at, failures included.
        charged = self.bucket.take(now)
        if not self._bearer_valid(authorization, now):
            return self._refused(LearnRefusal(401, "Bearer token is invalid"))
        if not charged:
            self.record.faults["rate_limited"] += 1
            return self._refused(
                LearnRefusal(
                    429,
                    "Too many requests: the API quota is exhausted",
                    headers=self._retry_after(),
                )
            )
        if self.config.error_rate and self.fault_rng.random() < self.config.error_rate:
            self.record.faults["server_error"] += 1
            return self._refused(LearnRefusal(500, "An unexpected error occurred"))
        try:
            reply = action(now)
        except LearnRefusal as refusal:
            return self._refused(refusal)
        if reply.text is None:
            reply.headers.update(self._rate_headers())
        return reply

    def _gateway_page(self) -> Reply | None:
        """The sign-in page of a gateway in front of Learn (`sign_in_page_from`), for a call it
        does not let through, or None. Such a call never reaches Learn: nothing is charged,
        counted or changed, whatever its path."""
        start = self.config.sign_in_page_from
        if start is None:
            return None
        number = self.record.calls.total() + self.record.faults["sign_in_page"] + 1
        covered = self.config.sign_in_page_calls
        if number < start or (covered is not None and number >= start + covered):
            return None
        self.record.faults["sign_in_page"] += 1
        return Reply(200, text=SIGN_IN_PAGE, headers={"Content-Type": "text/html; charset=utf-8"})

    def _gateway_refusal(self) -> Reply | None:
        """The gateway's answer to this call if it is one the gateway refuses (see
        `SandboxConfig.gateway_from`), else None: Learn never sees it."""
        config = self.config
        number = sum(self.record.calls.values())
        if not config.gateway_from or not (
            config.gateway_from <= number < config.gateway_from + config.gateway_calls
        ):
            return None
        self.record.faults["gateway"] += 1
        if config.gateway_status == 429:
            headers = {"Retry-After": str(config.gateway_retry_after)}
            refusal = LearnRefusal(429, "Too many requests (gateway)", headers=headers)
        else:
            refusal = LearnRefusal(config.gateway_status, "The gateway failed")
        return self._refused(refusal)

    def _bearer_valid(self, authorization: str | None, now: float) -> bool:
        scheme, _, value = (authorization or "").partition(" ")
        return (
            scheme.lower() == "bearer"
            and self.token is not None
            and value.strip() == self.token.value
            and self.token.valid_at(now)
        )

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.bucket.capacity),
            "X-Rate-Limit-Remaining": str(self.bucket.remaining),
        }

    def _retry_after(self) -> dict[str, str]:
        return {"Retry-After": str(self.bucket.retry_after())}

    def _refused(self, refusal: LearnRefusal, *, rate: bool = True) -> Reply:
        headers = dict(refusal.headers)
        if rate:
            headers.update(self._rate_headers())
        return Reply(refusal.status, learn_error_body(refusal, self._hex()), headers)

    def _apply_finished_copies(self, now: float) -> None:
        for task in self.queue.take_finished(now):
            end_iso = iso_time(task.end)
            self.catalog.finish_copy(
                task.source_primary_id,
                task.target_primary_id,
                into_existing=task.into_existing,
                end_iso=end_iso,
            )
            self.teaching.copy_into(
                task.source_primary_id,
                task.target_primary_id,
                partial=task.partial,
                members_at=task.end if task.exact else None,
                contents=task.contents,
                columns=task.columns,
                announcements=task.announcements,
                calendar=task.calendar,
                target_label=task.target_primary_id,
                now_iso=end_iso,
            )

    def _course(self, ref: str) -> Course:
        course = self.catalog.find_course(ref)
        if course is None:
            raise LearnRefusal(404, f"Course not found: {ref}", code="bb-rest-course-not-found")
        return course

    def _user(self, ref: str) -> dict[str, Any]:
        user = self.teaching.find_user(ref)
        if user is None:
            raise LearnRefusal(404, f"User not found: {ref}", code="bb-rest-user-not-found")
        return user


def _oauth_error(status: int, description: str) -> Reply:
    return Reply(status, {"error": "invalid_client", "error_description": description})


def require_json(body: Any) -> None:
    if isinstance(body, InvalidJson):
        raise LearnRefusal(400, "The request body is not valid JSON")
    if body is None:
        raise LearnRefusal(400, "A JSON request body is required")


def query_flag(query: dict[str, str], name: str) -> bool:
    raw = query.get(name, "false")
    if raw.lower() not in ("true", "false"):
        raise LearnRefusal(400, f"Invalid value for '{name}': {raw!r}")
    return raw.lower() == "true"
