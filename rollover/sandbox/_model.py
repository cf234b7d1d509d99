"""`LearnSandbox`: the simulated Learn site's state and rules, with no HTTP in it.

Every public method is one Learn endpoint. It reads the injected clock once, applies the copies
that have finished by then, charges the quota, checks the bearer token and injected faults, and
returns a `Reply`. Nothing awaits, so concurrent requests cannot interleave a check and its write.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._access import AccessToken, QuotaBucket, basic_credentials
from ._catalog import Catalog, Course
from ._config import (
    GRADEBOOK_ENTITLEMENT,
    SandboxConfig,
    SandboxConfigInvalid,
    SeedCourse,
    SeedTerm,
    SeedUser,
)
from ._copying import CopyQueue, CopyTask, draw_duration
from ._journal import replay_journal, write_snapshot
from ._record import CopyEvent, EnrolmentEvent, PatchEvent, SandboxRecord
from ._replies import (
    InvalidJson,
    LearnRefusal,
    Reply,
    iso_time,
    json_copy,
    learn_error_body,
    page_of,
    trim_fields,
)
from ._spec import MEMBERSHIP_PATH, validate_request_body
from ._state import restored_rng, rng_state
from ._teaching import (
    MEMBERSHIP_STEP_PERCENT,
    Membership,
    Teaching,
    all_roles,
    seeded_counts,
    user_uuid,
)

COPY_PATH = "/learn/api/public/v2/courses/{courseId}/copy"
API = "/learn/api/public"
CONTENTS_PAGE_SIZE = 200
STATE_VERSION = 1

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


class LearnSandbox:
    """An in-memory Learn site: courses, terms, users, enrolments, content, copy tasks, one
    OAuth token and a call quota."""

    def __init__(self, config: SandboxConfig | None = None, clock: Clock = time.time) -> None:
        self.config = config or SandboxConfig()
        self.clock = clock
        now = clock()
        self.catalog = Catalog()
        self.teaching = Teaching()
        self.queue = CopyQueue.with_slots(self.config.slots)
        self.token: AccessToken | None = None
        self.bucket = QuotaBucket.full(
            self.config.quota_limit, self.config.quota_refill_per_second, now
        )
        self.record = SandboxRecord()
        # Separate streams, so turning one fault on does not shift another's draws.
        self.fault_rng = random.Random(f"{self.config.seed}:faults")
        self.duration_rng = random.Random(f"{self.config.seed}:durations")
        self.id_rng = random.Random(f"{self.config.seed}:ids")
        self._seed(now)

    def _seed(self, now: float) -> None:
        for seed_term in self.config.terms:
            self.catalog.add_term(seed_term.external_id, seed_term.name)
        for seed in self.config.courses:
            self._add_seed_course(seed, now)
        for user in self.config.users:
            self._add_seed_user(user, now)

    def _add_seed_user(self, seed: SeedUser, now: float) -> None:
        self.teaching.add_user(seed, user_uuid(self.config.seed, seed.user_name), iso_time(now))

    def _add_seed_course(self, seed: SeedCourse, now: float) -> None:
        term = self.catalog.find_term(f"externalId:{seed.term_id}") if seed.term_id else None
        if seed.term_id and term is None:
            raise SandboxConfigInvalid(
                f'[[courses]] "{seed.course_id}" term_id = "{seed.term_id}": expected the '
                "external_id of a [[terms]] entry"
            )
        course = self.catalog.add_course(
            course_id=seed.course_id,
            name=seed.name,
            description=seed.description,
            external_id=seed.effective_external_id,
            term_primary_id=term["id"] if term else None,
            uuid=self._hex(),
            now_iso=self.site_time(now),
        )
        # A source gets content and columns; a shell is empty unless the config says otherwise.
        contents, columns = seeded_counts(seed.course_id)
        if seed.shell and seed.course_id not in self.config.shells_with_content:
            contents = columns = 0
        contents = seed.contents if seed.contents is not None else contents
        columns = seed.columns if seed.columns is not None else columns
        if contents or columns:
            self.teaching.seed_course(course.primary_id, seed.course_id, contents, columns)

    def seed(
        self,
        courses: Sequence[SeedCourse],
        terms: Sequence[SeedTerm],
        users: Sequence[SeedUser] = (),
    ) -> list[str]:
        """Add the terms, courses and users the site does not have yet (a rehearsal's manifest
        grew after it began); the ids (userNames for users) of those added."""
        now = self.clock()
        added: list[str] = []
        for seed_term in terms:
            if self.catalog.find_term(f"externalId:{seed_term.external_id}") is None:
                self.catalog.add_term(seed_term.external_id, seed_term.name)
                added.append(seed_term.external_id)
        for seed in courses:
            if self.catalog.find_course(f"courseId:{seed.course_id}") is None:
                self._add_seed_course(seed, now)
                added.append(seed.course_id)
        for user in users:
            if not self.teaching.has_user(user.user_name):
                self._add_seed_user(user, now)
                added.append(user.user_name)
        return added

    def _hex(self) -> str:
        return f"{self.id_rng.getrandbits(128):032x}"

    def course(self, ref: str) -> Course | None:
        """The course named by `ref` in any id form, hidden state included."""
        return self.catalog.find_course(ref)

    def task(self, task_id: str) -> CopyTask | None:
        """The copy task with this id, if one was ever posted."""
        return self.queue.tasks.get(task_id)

    def membership(self, course_ref: str, user_ref: str) -> dict[str, Any] | None:
        """The user's membership of the course as of now (refs in any id form), or None."""
        now = self._caught_up()
        course, user = self.catalog.find_course(course_ref), self.teaching.find_user(user_ref)
        if course is None or user is None:
            return None
        found = self.teaching.view(course.primary_id).member_at(user["id"], now)
        return json_copy(found.data) if found is not None else None

    def content_count(self, course_ref: str) -> int:
        """How many content items the course holds now, at all levels, folders included."""
        self._caught_up()
        return len(self.teaching.view(self._known(course_ref).primary_id).contents)

    def column_count(self, course_ref: str) -> int:
        """How many gradebook columns the course has now."""
        self._caught_up()
        return len(self.teaching.view(self._known(course_ref).primary_id).columns)

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

    def copy_course(self, source_ref: str, body: Any, authorization: str | None) -> Reply:
        """POST /v2/courses/{id}/copy: queue a copy into a new or an existing course."""
        return self._serve(
            "POST /v2/courses/{id}/copy",
            authorization,
            lambda now: self._copy(source_ref, body, now),
        )

    def get_task(self, course_ref: str, task_id: str, authorization: str | None) -> Reply:
        """GET /v1/courses/{id}/tasks/{id}: 200 while running, 303 to the course when done."""
        return self._serve(
            "GET /v1/courses/{id}/tasks/{id}",
            authorization,
            lambda now: self._task(course_ref, task_id, now),
        )

    def get_course(
        self, version: str, ref: str, authorization: str | None, fields: str | None = None
    ) -> Reply:
        """GET /{version}/courses/{id}: one course in any id form, trimmed by `fields`."""
        return self._serve(
            f"GET /{version}/courses/{{id}}",
            authorization,
            lambda now: Reply(200, trim_fields(self._course(ref).data, fields)),
        )

    def list_courses(self, query: dict[str, str], authorization: str | None) -> Reply:
        """GET /v3/courses: courses whose courseId/externalId/name *contain* the filter, paged."""
        return self._serve(
            "GET /v3/courses",
            authorization,
            lambda now: Reply(
                200,
                page_of(
                    self.catalog.search(query), f"{API}/v3/courses", query, query.get("fields")
                ),
            ),
        )

    def patch_course(self, ref: str, body: Any, authorization: str | None) -> Reply:
        """PATCH /v3/courses/{id}: update a course under Learn's rules."""
        return self._serve(
            "PATCH /v3/courses/{id}", authorization, lambda now: self._patch(ref, body, now)
        )

    def get_term(self, ref: str, authorization: str | None) -> Reply:
        """GET /v1/terms/{id}: one term by primary id or `externalId:X`."""
        return self._serve("GET /v1/terms/{id}", authorization, lambda now: self._term(ref))

    def list_terms(self, query: dict[str, str], authorization: str | None) -> Reply:
        """GET /v1/terms: every term, paged."""
        return self._serve(
            "GET /v1/terms",
            authorization,
            lambda now: Reply(
                200,
                page_of(
                    list(self.catalog.terms.values()), f"{API}/v1/terms", query, query.get("fields")
                ),
            ),
        )

    def get_user(self, ref: str, authorization: str | None, fields: str | None = None) -> Reply:
        """GET /v1/users/{id}: one user by `_N_1`, `userName:X`, `externalId:X` or `uuid:X`."""
        return self._serve(
            "GET /v1/users/{id}",
            authorization,
            lambda now: Reply(200, trim_fields(self._user(ref), fields)),
        )

    def put_membership(
        self, course_ref: str, user_ref: str, body: Any, authorization: str | None
    ) -> Reply:
        """PUT /v1/courses/{id}/users/{id}: enrol a user (201), or 409 if already a member."""
        return self._serve(
            "PUT /v1/courses/{id}/users/{id}",
            authorization,
            lambda now: self._enrol(course_ref, user_ref, body, now),
        )

    def patch_membership(
        self, course_ref: str, user_ref: str, body: Any, authorization: str | None
    ) -> Reply:
        """PATCH /v1/courses/{id}/users/{id}: change a member's role or availability."""
        return self._serve(
            "PATCH /v1/courses/{id}/users/{id}",
            authorization,
            lambda now: self._patch_membership(course_ref, user_ref, body, now),
        )

    def get_membership(
        self, course_ref: str, user_ref: str, authorization: str | None, fields: str | None = None
    ) -> Reply:
        """GET /v1/courses/{id}/users/{id}: one membership, 404 when the user is no member."""

        def answer(now: float) -> Reply:
            _, _, membership = self._membership(course_ref, user_ref, now)
            return Reply(200, trim_fields(membership.data, fields))

        return self._serve("GET /v1/courses/{id}/users/{id}", authorization, answer)

    def list_memberships(
        self, course_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /v1/courses/{id}/users: the course's memberships (`role` filters), paged."""

        def answer(now: float) -> Reply:
            course = self._course(course_ref)
            members = [
                m.data
                for m in self.teaching.view(course.primary_id).members_at(now)
                if query.get("role") in (None, m.data["courseRoleId"])
            ]
            path = f"{API}/v1/courses/{course.primary_id}/users"
            return Reply(200, page_of(members, path, query, query.get("fields")))

        return self._serve("GET /v1/courses/{id}/users", authorization, answer)

    def list_contents(
        self, course_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /v1/courses/{id}/contents: the top level, or every level with recursive=true."""

        def answer(now: float) -> Reply:
            course = self._course(course_ref)
            items = self.teaching.view(course.primary_id).content_items(
                None, recursive=_flag(query, "recursive")
            )
            path = f"{API}/v1/courses/{course.primary_id}/contents"
            return Reply(200, _page(items, path, query, CONTENTS_PAGE_SIZE))

        return self._serve("GET /v1/courses/{id}/contents", authorization, answer)

    def list_content_children(
        self, course_ref: str, content_id: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /v1/courses/{id}/contents/{id}/children: what one folder holds, paged."""

        def answer(now: float) -> Reply:
            course = self._course(course_ref)
            holdings = self.teaching.view(course.primary_id)
            if holdings.content_row(content_id) is None:
                raise LearnRefusal(404, f"Content not found: {content_id}")
            items = holdings.content_items(content_id, recursive=_flag(query, "recursive"))
            path = f"{API}/v1/courses/{course.primary_id}/contents/{content_id}/children"
            return Reply(200, _page(items, path, query, CONTENTS_PAGE_SIZE))

        return self._serve("GET /v1/courses/{id}/contents/{id}/children", authorization, answer)

    def list_columns(
        self, version: str, course_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /{version}/courses/{id}/gradebook/columns: the course's grade columns, paged."""

        def answer(now: float) -> Reply:
            course = self._course(course_ref)
            if GRADEBOOK_ENTITLEMENT in self.config.missing_entitlements:
                raise LearnRefusal(403, "User is not authorized to view the gradebook columns")
            columns = self.teaching.view(course.primary_id).gradebook_columns()
            path = f"{API}/{version}/courses/{course.primary_id}/gradebook/columns"
            return Reply(200, page_of(columns, path, query, query.get("fields")))

        return self._serve(
            f"GET /{version}/courses/{{id}}/gradebook/columns", authorization, answer
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

    def _copy(self, source_ref: str, body: Any, now: float) -> Reply:
        _require_json(body)
        problems = validate_request_body("post", COPY_PATH, body)
        if problems:
            raise LearnRefusal(400, "Invalid request body: " + "; ".join(problems))
        target = body["targetCourse"]
        if ("courseId" in target) == ("id" in target):
            raise LearnRefusal(
                400, "targetCourse needs exactly one of courseId (new course) or id (existing)"
            )
        source = self._course(source_ref)
        if "courseId" in target:
            new_id = target["courseId"]
            if not new_id or len(new_id) > 100:
                raise LearnRefusal(400, "targetCourse.courseId must be 1 to 100 characters")
            if self.catalog.course_id_taken(new_id):
                raise LearnRefusal(
                    409,
                    "A course with the provided courseId already exists",
                    status_as_string=True,
                )
            # Visible at once, before any content arrives: existence never proves completion.
            course = self.catalog.add_course(
                course_id=new_id,
                name=source.data["name"],
                description="",
                external_id=new_id,
                term_primary_id=None,
                uuid=self._hex(),
                now_iso=self.site_time(now),
            )
            into_existing = False
        else:
            found = self.catalog.find_course(target["id"])
            if found is None:
                raise LearnRefusal(404, f"Target course {target['id']} not found")
            if found is source:
                raise LearnRefusal(400, "A course cannot be copied into itself")
            course, into_existing = found, True
        duration = draw_duration(self.duration_rng, self.config)
        outcome = self._draw_outcome()
        task = self.queue.schedule(
            source_primary_id=source.primary_id,
            source_course_id=source.course_id,
            target_primary_id=course.primary_id,
            into_existing=into_existing,
            now=now,
            duration=duration,
            outcome=outcome,
            exact="copy" not in body,
            partial=self._draw_partial(outcome),
            contents=_copies(body, "contentAreas"),
            columns=_copies(body, "gradebook"),
        )
        course.copy_task = task.id
        self.record.copies.append(
            CopyEvent(
                source.course_id,
                course.course_id,
                course.primary_id,
                into_existing,
                task.id,
                now,
                options=json_copy(body.get("copy")),
            )
        )
        if self.config.drop_copy_response_rate and (
            self.fault_rng.random() < self.config.drop_copy_response_rate
        ):
            self.record.faults["dropped_copy_response"] += 1
            return Reply(502, text="<html><body><h1>502 Bad Gateway</h1></body></html>\n")
        location = f"{API}/v1/courses/{source.primary_id}/tasks/{task.id}"
        return Reply(202, {}, {"Location": location})

    def _draw_outcome(self) -> str:
        rate = self.config.complete_with_errors_rate
        if rate and self.fault_rng.random() < rate:
            return "CompleteWithErrors"
        return "Complete"

    def _draw_partial(self, outcome: str) -> bool:
        # Only a copy that reports plain Complete can be silently partial.
        rate = self.config.partial_copy_rate
        if outcome != "Complete" or not rate or self.fault_rng.random() >= rate:
            return False
        self.record.faults["partial_copy"] += 1
        return True

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
                target_label=task.target_primary_id,
                now_iso=end_iso,
            )

    def _task(self, course_ref: str, task_id: str, now: float) -> Reply:
        course = self.catalog.find_course(course_ref)
        task = self.queue.tasks.get(task_id)
        forget = self.config.forget_tasks_after
        if (
            course is None
            or task is None
            or task.source_primary_id != course.primary_id
            or (forget is not None and task.done_at(now) and now >= task.end + forget)
        ):
            raise LearnRefusal(404, "Task not found for this course", status_as_string=True)
        if not task.done_at(now):
            return Reply(200, task.view(now))
        location = f"{API}/v1/courses/{task.target_primary_id}"
        return Reply(303, task.view(now), {"Location": location})

    def _course(self, ref: str) -> Course:
        course = self.catalog.find_course(ref)
        if course is None:
            raise LearnRefusal(404, f"Course not found: {ref}", code="bb-rest-course-not-found")
        return course

    def _patch(self, ref: str, body: Any, now: float) -> Reply:
        course = self._course(ref)
        _require_json(body)
        self.catalog.patch_course(course, body, iso_time(now))
        task = self.queue.tasks.get(course.copy_task) if course.copy_task else None
        self.record.patches.append(
            PatchEvent(
                course.primary_id,
                course.course_id,
                json_copy(body),
                now,
                copy_complete=task is None or task.applied,
            )
        )
        return Reply(200, course.data)

    def _user(self, ref: str) -> dict[str, Any]:
        user = self.teaching.find_user(ref)
        if user is None:
            raise LearnRefusal(404, f"User not found: {ref}", code="bb-rest-user-not-found")
        return user

    def _membership(
        self, course_ref: str, user_ref: str, now: float
    ) -> tuple[Course, dict[str, Any], Membership]:
        course, user = self._course(course_ref), self._user(user_ref)
        found = self.teaching.view(course.primary_id).member_at(user["id"], now)
        if found is None:
            raise LearnRefusal(404, f"Course membership not found: {user_ref} in {course_ref}")
        return course, user, found

    def _enrol(self, course_ref: str, user_ref: str, body: Any, now: float) -> Reply:
        _check_membership_body("put", body)
        course, user = self._course(course_ref), self._user(user_ref)
        role = body.get("courseRoleId", "Student")
        if role not in all_roles(self.config.roles):
            raise LearnRefusal(404, f"Course role not found: {role}")
        if self.teaching.is_system_admin(user):
            raise LearnRefusal(
                403,
                "User is a System Admin and the Logged-on User is not a System Administrator",
            )
        if self.teaching.view(course.primary_id).member_at(user["id"], now) is not None:
            raise LearnRefusal(409, "User already enrolled", status_as_string=True)
        # The copy's membership step runs at 15%: an enrolment made before it is dropped then.
        running = self.queue.unfinished_into(course.primary_id, now)
        percent = min((task.percent_at(now) for task in running), default=None)
        lost_at = min(
            (
                task.time_reaching(MEMBERSHIP_STEP_PERCENT)
                for task in running
                if task.percent_at(now) < MEMBERSHIP_STEP_PERCENT
            ),
            default=None,
        )
        data: dict[str, Any] = {
            "userId": user["id"],
            "courseId": course.primary_id,
            "dataSourceId": body.get("dataSourceId", "_2_1"),
            "created": iso_time(now),
            "modified": iso_time(now),
            "availability": {"available": body.get("availability", {}).get("available", "Yes")},
            "courseRoleId": role,
        }
        if "displayOrder" in body:
            data["displayOrder"] = body["displayOrder"]
        members = self.teaching.holdings(course.primary_id).members
        members.pop(user["id"], None)  # one the copy dropped: enrolled afresh, last in order
        members[user["id"]] = Membership(data, lost_at)
        self.record.enrolments.append(
            EnrolmentEvent(
                course.primary_id,
                course.course_id,
                user["id"],
                role,
                now,
                percent,
                lost=lost_at is not None,
            )
        )
        return Reply(201, data)

    def _patch_membership(self, course_ref: str, user_ref: str, body: Any, now: float) -> Reply:
        _check_membership_body("patch", body)
        _, _, membership = self._membership(course_ref, user_ref, now)
        role = body.get("courseRoleId")
        if role is not None and role not in all_roles(self.config.roles):
            raise LearnRefusal(400, f"Invalid courseRoleId: {role}")
        data = membership.data
        if role is not None:
            data["courseRoleId"] = role
        if "available" in body.get("availability", {}):
            data["availability"] = {"available": body["availability"]["available"]}
        for name in ("dataSourceId", "displayOrder"):
            if name in body:
                data[name] = body[name]
        data["modified"] = iso_time(now)
        return Reply(200, data)

    def _term(self, ref: str) -> Reply:
        term = self.catalog.find_term(ref)
        if term is None:
            raise LearnRefusal(404, f"Term not found: {ref}")
        return Reply(200, term)

    def to_state(self) -> dict[str, Any]:
        """The whole site as JSON-safe data, RNG states and counters included."""
        return {
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "courses": [c.to_dict() for c in self.catalog.courses.values()],
            "teaching": self.teaching.to_dict(),
            "terms": list(self.catalog.terms.values()),
            "next_id": self.catalog.next_id,
            "queue": self.queue.to_dict(),
            "token": self.token.to_dict() if self.token else None,
            "bucket": self.bucket.to_dict(),
            "record": self.record.to_dict(),
            "rng": {
                name: rng_state(getattr(self, name))
                for name in ("fault_rng", "duration_rng", "id_rng")
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], clock: Clock = time.time) -> LearnSandbox:
        """The site `to_state` described, running on `clock`."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported sandbox state version {state.get('version')!r}")
        sandbox = cls.__new__(cls)
        sandbox.config = SandboxConfig.from_dict(state["config"])
        sandbox.clock = clock
        sandbox.catalog = Catalog(
            {
                c["data"]["id"]: Course(c["data"], c["content"], c["copy_task"])
                for c in state["courses"]
            },
            {t["id"]: t for t in state["terms"]},
            state["next_id"],
        )
        if "teaching" in state:
            sandbox.teaching = Teaching.from_dict(state["teaching"])
        else:  # saved before users and content existed: the users, and no content
            sandbox.teaching = Teaching()
            for user in sandbox.config.users:
                sandbox._add_seed_user(user, clock())
        sandbox.queue = CopyQueue.from_dict(state["queue"])
        sandbox.token = AccessToken(**state["token"]) if state["token"] else None
        sandbox.bucket = QuotaBucket(**state["bucket"])
        sandbox.record = SandboxRecord.from_dict(state["record"])
        for name, saved in state["rng"].items():
            setattr(sandbox, name, restored_rng(saved))
        return sandbox

    @classmethod
    def load_or_create(
        cls, path: Path, config: SandboxConfig | None = None, clock: Clock = time.time
    ) -> LearnSandbox:
        """Resume the site saved at `path`, or start a fresh one from `config` if none is."""
        if Path(path).exists():
            return cls.load(path, clock)
        return cls(config, clock)

    def save(self, path: Path) -> None:
        """Write a snapshot atomically; a journal beside `path` from before it no longer counts."""
        write_snapshot(self, Path(path))

    @classmethod
    def load(cls, path: Path, clock: Clock = time.time) -> LearnSandbox:
        """Read the snapshot at `path`, then replay the calls journaled beside it since."""
        with Path(path).open(encoding="utf-8") as handle:
            state = json.load(handle)
        sandbox = cls.from_state(state, clock)
        replay_journal(sandbox, Path(path), state.get("journal_id"))
        return sandbox


def _oauth_error(status: int, description: str) -> Reply:
    return Reply(status, {"error": "invalid_client", "error_description": description})


def _require_json(body: Any) -> None:
    if isinstance(body, InvalidJson):
        raise LearnRefusal(400, "The request body is not valid JSON")
    if body is None:
        raise LearnRefusal(400, "A JSON request body is required")


def _check_membership_body(method: str, body: Any) -> None:
    _require_json(body)
    problems = validate_request_body(method, MEMBERSHIP_PATH, body)
    if problems:
        raise LearnRefusal(400, "Invalid request body: " + "; ".join(problems))
    if "childCourseId" in body:
        # The sandbox has no cross-listed courses, so no course has a child to enrol in.
        raise LearnRefusal(400, f"Invalid childCourseId: {body['childCourseId']}")


def _copies(body: dict[str, Any], area: str) -> bool:
    """Whether a copy request brings `area` (content areas, gradebook): all but what its
    `copy` object sets false (the spec gives no default for an option left out)."""
    options = body.get("copy")
    return not isinstance(options, dict) or options.get(area) is not False


def _flag(query: dict[str, str], name: str) -> bool:
    raw = query.get(name, "false")
    if raw.lower() not in ("true", "false"):
        raise LearnRefusal(400, f"Invalid value for '{name}': {raw!r}")
    return raw.lower() == "true"


def _page(
    items: list[dict[str, Any]], path: str, query: dict[str, str], size: int
) -> dict[str, Any]:
    return page_of(items, path, query, query.get("fields"), default_limit=size)
