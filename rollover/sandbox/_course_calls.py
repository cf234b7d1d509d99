"""The course and term endpoints: read, list and PATCH courses; read and list terms."""

from __future__ import annotations

from typing import Any

from ._record import PatchEvent
from ._replies import (
    LearnRefusal,
    Reply,
    iso_time,
    json_copy,
    page_of,
    trim_fields,
)
from ._site import API, SiteCore, require_json


class CourseCalls(SiteCore):
    """GET/PATCH courses and GET terms."""

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

    def _patch(self, ref: str, body: Any, now: float) -> Reply:
        course = self._course(ref)
        require_json(body)
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
