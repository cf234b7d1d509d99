"""The Learn REST client: the one class callers use, and the calls the tool makes.

`LearnClient` holds its transport (`_transport`: the wire, the token, retries, the site's quota
and clock) and says which call is which: the copy's POST and poll (`_copy`), courses, terms,
users and memberships here, the counts of a course (`_counts`), merged sections (`_merges`).
The copy POST is never retried: whether it may be sent again is the engine's decision, made
from the ledger and Learn's state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from rollover.errors import LearnError
from rollover.times import utc_now

from ._answers import json_object
from ._calendar import calendar_shown
from ._copy import TaskPoll, poll_task, request_copy
from ._counts import column_count, content_counts
from ._dates import DatedItem, DatedKind, dated_items, patch_dates, range_start
from ._ids import API, course_path
from ._merges import CourseFamily, attach_child, children, course_family
from ._retry import RetryPolicy, Sleep
from ._site import Site
from ._statuses import Call, Meaning, error_meaning, found
from ._stop import Stop
from ._transport import Transport


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
        # The run's stop: every wait below goes through it, and no call is sent after it.
        self.stop = stop or Stop(sleep)
        self._wire = Transport(
            self.base_url,
            key,
            secret,
            transport=transport,
            timeout=timeout,
            verify=verify,
            retry=retry or RetryPolicy(),
            stop=self.stop,
            monotonic=monotonic,
            clock=clock,
        )
        # Requests sent per endpoint template ("GET /v3/courses/{id}"), sign-ins included.
        self.calls = self._wire.calls

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

    # -- what the client tells ----------------------------------------------------------------

    @property
    def changes_sent(self) -> int:
        """Requests sent that may have changed Learn (copies, PATCHes, enrolments)."""
        return sum(
            count
            for endpoint, count in self.calls.items()
            if not endpoint.startswith("GET ") and "oauth2" not in endpoint
        )

    @property
    def calls_unanswered(self) -> int:
        """Calls sent (counted in `calls`) whose answer has not come in, so `quota_remaining`
        does not show them yet: the engine's poll budget keeps them out of its spare calls."""
        return self._wire.calls_unanswered

    @property
    def quota_remaining(self) -> int | None:
        """Learn's X-Rate-Limit-Remaining at its latest answer that said, else None."""
        return self._wire.quota_remaining

    @property
    def quota_limit(self) -> int | None:
        """Learn's X-Rate-Limit-Limit at its latest answer that said, else None."""
        return self._wire.quota_limit

    @property
    def on_answer(self) -> Callable[[str, int], None] | None:
        """Told (endpoint template, HTTP status) of every answer: the engine's audit trail."""
        return self._wire.on_answer

    @on_answer.setter
    def on_answer(self, told: Callable[[str, int], None] | None) -> None:
        self._wire.on_answer = told

    @property
    def on_quota(self) -> Callable[[int, int | None], None] | None:
        """Told (remaining, limit) of each answer that carries Learn's quota headers."""
        return self._wire.on_quota

    @on_quota.setter
    def on_quota(self, told: Callable[[int, int | None], None] | None) -> None:
        self._wire.on_quota = told

    @property
    def on_token_granted(self) -> Callable[[], None] | None:
        """Called once, when the site first grants a token: the ledger is bound to it then.
        Any earlier answer (a 404 at a wrong address, a refused key, a sign-on page) binds
        nothing."""
        return self._wire.token.on_granted

    @on_token_granted.setter
    def on_token_granted(self, told: Callable[[], None] | None) -> None:
        self._wire.token.on_granted = told

    @property
    def site_clock_offset(self) -> float:
        """Seconds Learn's clock is ahead of this machine's (negative: behind), the median of
        the latest answers' Date headers; 0 until an answer has said."""
        return self._wire.site_clock.offset

    @property
    def last_site_date(self) -> datetime | None:
        """Learn's clock at its latest answer (its Date header), None until one said."""
        return self._wire.site_clock.last_date

    def site_now(self) -> datetime | None:
        """Learn's clock now: its latest answer's Date plus the monotonic time since, so no
        step of this machine's wall clock moves it; None until an answer has told it."""
        return self._wire.site_clock.now()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._wire.aclose()

    async def __aenter__(self) -> LearnClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the copy ------------------------------------------------------------------------------

    async def copy_course(
        self, source_id: str, body: dict[str, Any], *, sending: Callable[[], None] | None = None
    ) -> str:
        """POST a copy request; returns the task Location exactly as Learn sent it.

        Never retried. Raises LearnError subclasses for answers that say the copy was not
        made, LearnUnreachable when the request provably never left, and CopyOutcomeUnknown /
        LearnServerError when Learn may or may not have applied it. `sending` is called just
        before the request leaves (after every wait): until then, it was not sent.
        """
        return await request_copy(self._wire, source_id, body, sending)

    async def poll_task(self, location: str) -> TaskPoll:
        """GET a task Location once (redirects off): 200 = still going, 303 = complete."""
        return await poll_task(self._wire, location)

    # -- courses, terms, users -----------------------------------------------------------------

    async def get_course(self, course_id: str, fields: str) -> dict[str, Any]:
        """GET one course (any id form) trimmed to `fields`; LearnNotFound if absent."""
        return await self._wire.get_one(course_path(course_id), "GET /v3/courses/{id}", fields)

    async def get_term(self, term_id: str, fields: str) -> dict[str, Any]:
        """GET one term (`_1_1` or `externalId:X`) trimmed to `fields`; LearnNotFound if absent."""
        path = f"{API}/v1/terms/{quote(term_id, safe=':_-.~')}"
        return await self._wire.get_one(path, "GET /v1/terms/{id}", fields)

    async def list_courses(
        self,
        params: dict[str, str],
    ) -> AsyncGenerator[tuple[list[dict[str, Any]], bool], None]:
        """GET /v3/courses with `params`, one page as each is consumed: (results, more follow).

        A consumer that stops early costs no further call; Learn's `paging.nextPage` is followed.
        """
        async for page in self._wire.pages(f"{API}/v3/courses", "GET /v3/courses", params):
            yield page

    async def get_user(self, user_id: str, fields: str) -> dict[str, Any]:
        """GET one user (`_12_1`, `userName:X`, `externalId:X`, `uuid:X`); LearnNotFound if none."""
        path = f"{API}/v1/users/{quote(user_id, safe=':_-.~@')}"
        return await self._wire.get_one(path, "GET /v1/users/{id}", fields)

    async def enrol(self, course_pk: str, user_id: str, role: str) -> str:
        """Enrol a user with `role` (PUT: idempotent); what happened, for the audit trail.

        Learn answers 409 when the user is already a member: that is success once the
        membership is as asked, so a differing role is corrected and a membership made
        unavailable (the SIS disables rather than deletes) is made available again, with one
        PATCH. 404 (user, course or role unknown) and 403 (a user the application may not enrol)
        are raised for the engine to fail the row.
        """
        path = _membership_path(course_pk, user_id)
        endpoint = "PUT /v1/courses/{id}/users/{id}"
        body = {"courseRoleId": role, "availability": {"available": "Yes"}}
        try:
            await self._wire.idempotent(
                "PUT", path, endpoint, json=body, expect=(200, 201), reads_json=False
            )
        except LearnError as exc:
            if error_meaning(Call.ENROL, exc) is not Meaning.EXISTS:
                raise
            member = await self._wire.get_one(
                path, "GET /v1/courses/{id}/users/{id}", "courseRoleId,availability.available"
            )
            was = member.get("courseRoleId")
            available = (member.get("availability") or {}).get("available")
            if was == role and available == "Yes":
                return f"{user_id} was already enrolled as {role}"
            await self._wire.idempotent(
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
        member = await self._membership(course_pk, user_id, "courseRoleId")
        if member is None:
            return None
        role = member.get("courseRoleId")
        return role if isinstance(role, str) else ""

    async def enrolled(self, course_pk: str, user_id: str) -> bool:
        """Whether the user holds an available membership of the course (GET one membership):
        Learn shows a course's calendar items only to its members, and to the others it
        answers an empty list, which must never be read as "no items"."""
        member = await self._membership(course_pk, user_id, "availability.available")
        availability = member.get("availability") if member is not None else None
        return isinstance(availability, dict) and availability.get("available") == "Yes"

    async def _membership(self, course_pk: str, user_id: str, fields: str) -> dict[str, Any] | None:
        """One membership of the course trimmed to `fields` (GET), None if not a member."""
        return await found(
            self._wire.get_one(
                _membership_path(course_pk, user_id), "GET /v1/courses/{id}/users/{id}", fields
            )
        )

    async def calendar_shown(self, course_pk: str) -> bool:
        """Whether Learn shows this integration the course's calendar (`GET /v1/calendars`,
        read until the course's is found): proof that the Learn user it acts as is the one
        enrolled to read it."""
        return await calendar_shown(self._wire, course_pk)

    async def content_counts(self, course_pk: str) -> tuple[int, int]:
        """(content items at all levels, those other than empty folders) of a course;
        CountRefused when Learn refuses the list (403)."""
        return await content_counts(self._wire, course_pk)

    async def column_count(self, course_pk: str) -> int:
        """How many gradebook columns a course has; CountRefused when Learn refuses (403)."""
        return await column_count(self._wire, course_pk)

    async def patch_course(self, course_pk: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH a course by primary id; the same body twice gives the same course."""
        endpoint = "PATCH /v3/courses/{id}"
        response = await self._wire.idempotent(
            "PATCH",
            course_path(course_pk),
            endpoint,
            json=body,
            params={"fields": "id,externalAccessUrl"},
            reads_json=False,  # the answer's course is welcome, not needed
        )
        return json_object(response, endpoint, required=False)

    # -- dates that move with the term ------------------------------------------------------------

    async def dated_items(
        self,
        course_pk: str,
        kind: DatedKind,
        windows: Sequence[tuple[datetime, datetime]] = (),
    ) -> list[DatedItem]:
        """Every item of `kind` in a course that has at least one date, every page read.

        One list per kind, trimmed by `fields=`: contents at every level (v1, `recursive=true`,
        adaptive-release `start`/`end`), gradebook columns (v2, `grading.due`, `contentId` as
        `linked_content`), announcements (v1, display `start`/`end`). Items without any date
        are left out; a date Learn writes unreadably is LearnProtocolError, never "empty".
        CountRefused (exit 3) when Learn refuses the list (403): the integration user lacks
        the entitlement named; LearnNotFound when the course does not exist.
        """
        return await dated_items(self._wire, course_pk, kind, windows)

    async def patch_dates(
        self, course_pk: str, kind: DatedKind, item_id: str, dates: Mapping[str, datetime]
    ) -> None:
        """PATCH only the given date fields (dotted paths, as `DatedItem.dates` keys them) of one
        item, nested as Learn's body nests them and written as `learn_time`.

        A change (counted in `changes_sent`); its values are absolute, so it is retried like
        every idempotent change (5xx, timeouts, lost answers, web pages). The statuses table
        (`Call.SHIFT`) decides: LearnNotFound (404) when the item (or course) is gone;
        DatesRefused on 400/409 (a rule of Learn's, its message kept) and on 403 (a closed
        course, or the entitlement it names). ValueError for no field, a field the kind has
        not, or a naive datetime.
        """
        await patch_dates(self._wire, course_pk, kind, item_id, dates)

    async def course_start(self, course_pk: str) -> datetime | None:
        """When a course starts, for a shift from its term: its own `availability.duration`
        start when that is a DateRange, else its term's (when that is a DateRange); None when
        neither says, or its term no longer exists. LearnNotFound when the course does not."""
        course = await self.get_course(course_pk, "termId,availability.duration")
        start = range_start(course)
        term = course.get("termId")
        if start is None and isinstance(term, str) and term:
            in_term = await found(self.get_term(term, "availability.duration"))
            start = range_start(in_term or {})
        return start

    # -- merged sections -----------------------------------------------------------------------

    async def attach_child(self, parent_pk: str, child_ref: str) -> dict[str, Any]:
        """Attach an existing course as a child of `parent_pk` (merged sections); Learn's
        CourseChild as it answered (`id`, the child's primary id, `parentId`, ...; {} if it sent
        no body), or `{"id": child, "parentId": parent_pk}` when it was attached already.

        A PUT with `ignoreEnrollmentErrors=true`, retried like every idempotent change (5xx,
        timeouts, web pages) and counted in `changes_sent`. `parent_pk` is the parent's primary
        id (`_N_1`); `child_ref` names the child as the manifest does (a courseId,
        `externalId:X` or `_N_1`). A child already attached to this parent counts as attached
        (the retry of an attach whose answer was lost). AttachRefused (the row fails) when the
        child is another course's child or a parent itself, when the parent is a child, when
        the child or the parent is missing (`missing` says which), or Learn refuses otherwise.
        """
        return await attach_child(self._wire, parent_pk, child_ref)

    async def children(self, parent_pk: str) -> list[dict[str, Any]]:
        """The children of a course (Learn's CourseChild objects: `id`, `parentId`, ...), every
        page; [] for a course that has none (Learn's 400 "Course not a cross-listed parent");
        LearnNotFound when the course does not exist."""
        return await children(self._wire, parent_pk)

    async def course_family(self, ref: str) -> CourseFamily:
        """Where a course (a courseId, `externalId:X` or `_N_1`) stands among merged courses:
        its ids, name, parent and whether it is a parent; LearnNotFound if absent."""
        return await course_family(self._wire, ref)

    # -- addresses -----------------------------------------------------------------------------

    def course_url(self, course: dict[str, Any]) -> str | None:
        """The course's `externalAccessUrl`, absolute against the site's address: current Learn
        answers a full URL, older releases (and the sandbox) a path a registrar cannot click."""
        url = course.get("externalAccessUrl")
        if not isinstance(url, str) or not url.strip():
            return None
        return urljoin(self.base_url + "/", url.strip())

    def resolve(self, location: str) -> str:
        """Join a (usually relative) Location to the site; refuse any other host."""
        return self._wire.resolve(location)


def _membership_path(course_pk: str, user_id: str) -> str:
    """The path of one user's membership of a course (any of Learn's user id forms)."""
    return f"{course_path(course_pk, 'v1')}/users/{quote(user_id, safe=':_-.~@')}"
