"""`LearnSandbox`: the simulated Learn site's state and rules, with no HTTP in it.

Every public method is one Learn endpoint. It reads the injected clock once, applies the copies
that have finished by then, charges the quota, checks the bearer token and injected faults, and
returns a `Reply`. Nothing awaits, so concurrent requests cannot interleave a check and its write.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .access import AccessToken, QuotaBucket, basic_credentials
from .catalog import Catalog, Course
from .config import SandboxConfig, SeedCourse, SeedTerm
from .copying import CopyQueue, CopyTask, draw_duration
from .journal import replay_journal, write_snapshot
from .record import CopyEvent, PatchEvent, SandboxRecord
from .replies import (
    InvalidJson,
    LearnRefusal,
    Reply,
    iso_time,
    json_copy,
    learn_error_body,
    page_of,
    trim_fields,
)
from .spec import validate_request_body
from .state import restored_rng, rng_state

COPY_PATH = "/learn/api/public/v2/courses/{courseId}/copy"
API = "/learn/api/public"
STATE_VERSION = 1

Clock = Callable[[], float]


class LearnSandbox:
    """An in-memory Learn site: courses, terms, copy tasks, one OAuth token and a call quota."""

    def __init__(self, config: SandboxConfig | None = None, clock: Clock = time.time) -> None:
        self.config = config or SandboxConfig()
        self.clock = clock
        now = clock()
        self.catalog = Catalog()
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

    def _add_seed_course(self, seed: SeedCourse, now: float) -> None:
        term = self.catalog.find_term(f"externalId:{seed.term_id}") if seed.term_id else None
        if seed.term_id and term is None:
            raise ValueError(f"course {seed.course_id} names unknown term {seed.term_id}")
        self.catalog.add_course(
            course_id=seed.course_id,
            name=seed.name,
            description=seed.description,
            external_id=seed.effective_external_id,
            term_primary_id=term["id"] if term else None,
            uuid=self._hex(),
            now_iso=iso_time(now),
        )

    def seed(self, courses: Sequence[SeedCourse], terms: Sequence[SeedTerm]) -> list[str]:
        """Add the terms and courses the site does not have yet (a rehearsal's manifest grew
        after it began); the ids of those added."""
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
        return added

    def _hex(self) -> str:
        return f"{self.id_rng.getrandbits(128):032x}"

    def course(self, ref: str) -> Course | None:
        """The course named by `ref` in any id form, hidden state included."""
        return self.catalog.find_course(ref)

    def task(self, task_id: str) -> CopyTask | None:
        """The copy task with this id, if one was ever posted."""
        return self.queue.tasks.get(task_id)

    def request_token(self, authorization: str | None, form: dict[str, str]) -> Reply:
        """POST /v1/oauth2/token: the application's one token, with its remaining lifetime."""
        now = self._begin("POST /v1/oauth2/token")
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

    def unknown_endpoint(self, method: str, authorization: str | None) -> Reply:
        """Any path Learn does not serve: 404 in Learn's error shape."""

        def refuse(now: float) -> Reply:
            raise LearnRefusal(404, "The requested resource was not found")

        return self._serve(f"{method} <unknown>", authorization, refuse)

    def _begin(self, call: str) -> float:
        now = self.clock()
        self._apply_finished_copies(now)
        self.record.calls[call] += 1
        return now

    def _serve(
        self, call: str, authorization: str | None, action: Callable[[float], Reply]
    ) -> Reply:
        now = self._begin(call)
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
                now_iso=iso_time(now),
            )
            into_existing = False
        else:
            found = self.catalog.find_course(target["id"])
            if found is None:
                raise LearnRefusal(404, f"Target course {target['id']} not found")
            if found is source:
                raise LearnRefusal(400, "A course cannot be copied into itself")
            course, into_existing = found, True
        task = self.queue.schedule(
            source_primary_id=source.primary_id,
            source_course_id=source.course_id,
            target_primary_id=course.primary_id,
            into_existing=into_existing,
            now=now,
            duration=draw_duration(self.duration_rng, self.config),
            outcome=self._draw_outcome(),
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

    def _apply_finished_copies(self, now: float) -> None:
        for task in self.queue.take_finished(now):
            self.catalog.finish_copy(
                task.source_primary_id,
                task.target_primary_id,
                into_existing=task.into_existing,
                end_iso=iso_time(task.end),
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
