"""The copy endpoints: queue a copy (new course or existing one), and its task's progress."""

from __future__ import annotations

from typing import Any

from ._copying import draw_duration
from ._record import CopyEvent
from ._replies import (
    LearnRefusal,
    Reply,
    json_copy,
)
from ._site import API, SiteCore, require_json
from ._spec import validate_request_body

COPY_PATH = "/learn/api/public/v2/courses/{courseId}/copy"


class CopyCalls(SiteCore):
    """POST /v2/courses/{id}/copy and GET /v1/courses/{id}/tasks/{id}."""

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

    def _copy(self, source_ref: str, body: Any, now: float) -> Reply:
        require_json(body)
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
            announcements=_copies(body, "announcements"),
            calendar=_copies(body, "calendar"),
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


def _copies(body: dict[str, Any], area: str) -> bool:
    """Whether a copy request brings `area` (content areas, gradebook, calendar): all but what its
    `copy` object sets false (the spec gives no default for an option left out)."""
    options = body.get("copy")
    return not isinstance(options, dict) or options.get(area) is not False
