"""The copy's two calls: its POST, never repeated here, and the poll of its task.

Whether a copy may be requested again is the engine's decision, made from the ledger and
Learn's state: this module only tells, as exactly as an answer allows, whether Learn made it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from rollover.errors import CopyOutcomeUnknown, LearnProtocolError

from ._answers import json_object, learn_error, web_page
from ._ids import course_path, is_primary_id, learn_datetime
from ._transport import Transport

# Task statuses Learn ends a copy with when it did not fully succeed.
UNFINISHED_TASK = ("CompleteWithErrors", "Incomplete")


@dataclass(frozen=True)
class TaskPoll:
    """What one poll of a copy task said."""

    status: str
    percent_complete: int | None
    course_pk: str | None  # set once the task answered 303
    started: datetime | None = None  # when Learn says the copy began running, on Learn's clock

    @property
    def unclean(self) -> bool:
        """Whether Learn ended the copy with a warning (CompleteWithErrors, Incomplete): read
        from the task's status, never from the words of a message."""
        return self.status in UNFINISHED_TASK

    @property
    def finished(self) -> bool:
        """Whether the task will not change any more."""
        return self.course_pk is not None or self.unclean


async def request_copy(
    wire: Transport, source_id: str, body: dict[str, Any], sending: Callable[[], None] | None
) -> str:
    """POST a copy request once; the task Location exactly as Learn sent it."""
    path = f"{course_path(source_id, 'v2')}/copy"
    endpoint = "POST /v2/courses/{id}/copy"
    try:
        response = await wire.send("POST", path, endpoint, json=body, sending=sending)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise wire.unreachable(exc, f"could not connect to {wire.base_url}: {exc}") from exc
    except httpx.TransportError as exc:
        raise CopyOutcomeUnknown(
            f"the copy request was sent but its answer was lost ({type(exc).__name__})"
        ) from exc
    if response.status_code != 202:
        page = web_page(response, wire.shown_url, reads_json=False)
        if page is not None:  # whatever stands in front of Learn may have passed it on
            raise CopyOutcomeUnknown(
                f"{page.message}, to the copy request: Learn may or may not have applied it"
            ) from page
        raise learn_error(response, endpoint)
    location = str(response.headers.get("Location") or "")
    if not location:
        raise LearnProtocolError(202, "copy accepted without a Location header", endpoint=endpoint)
    return location


async def poll_task(wire: Transport, location: str) -> TaskPoll:
    """GET a task Location once (redirects off): 200 = still going, 303 = complete."""
    endpoint = "GET /v1/courses/{id}/tasks/{id}"
    response = await wire.idempotent("GET", wire.resolve(location), endpoint, expect=(200, 303))
    body = json_object(response, endpoint, required=response.status_code == 200)
    status = str(body.get("status") or ("Complete" if response.status_code == 303 else ""))
    percent = body.get("percentComplete")
    percent_complete = int(percent) if isinstance(percent, int | float) else None
    started = learn_datetime(body.get("started"))
    if response.status_code == 200:
        return TaskPoll(status, percent_complete, None, started)
    locations = response.headers.get_list("Location")
    if len(locations) > 1:  # which one names the course? Not a guess to make
        raise LearnProtocolError(
            303, f"task finished with {len(locations)} Location headers", endpoint=endpoint
        )
    course_location = locations[0] if locations else None
    if not course_location:
        raise LearnProtocolError(303, "task finished without a Location header", endpoint=endpoint)
    course_pk = urlsplit(wire.resolve(course_location)).path.rstrip("/").rsplit("/", 1)[-1]
    if not is_primary_id(course_pk):  # e.g. two Location headers joined by a proxy
        raise LearnProtocolError(
            303,
            f"task finished with an unusable Location {course_location[:200]!r}",
            endpoint=endpoint,
        )
    return TaskPoll(
        status, 100 if percent_complete is None else percent_complete, course_pk, started
    )
