"""What the tool counts in a course: its content items (the shell guard, --verify) and its
gradebook columns (--verify). A 403 on such a list is about the integration user's
entitlements, the same for every course: `CountRefused` names the one to grant.
"""

from __future__ import annotations

from typing import Any

from rollover.errors import CountRefused, LearnError

from ._ids import course_path
from ._statuses import Call, Meaning, error_meaning
from ._transport import Transport

FOLDER = "resource/x-bb-folder"  # a content item's contentHandler.id when it is a folder
LIST_PAGE = 200  # items asked for per page of a content or column list
# What Learn's user of the REST integration needs to list every content item or grade column
# (the official spec's words for GET .../contents and GET /v2/.../gradebook/columns).
CONTENTS_ENTITLEMENT = (
    "course.content.MODIFY (or another of those the spec lists that show every content item, "
    "such as course.content-item.copy.EXECUTE)"
)
COLUMNS_ENTITLEMENT = "course.gradebook.MODIFY"


async def content_counts(wire: Transport, course_pk: str) -> tuple[int, int]:
    """(content items at all levels, those other than empty folders) of a course."""
    items = await listed(
        wire,
        f"{course_path(course_pk, 'v1')}/contents",
        "GET /v1/courses/{id}/contents",
        {
            "recursive": "true",
            "fields": "id,hasChildren,contentHandler.id",
            "limit": str(LIST_PAGE),
        },
        counted="content items",
        course=course_pk,
        entitlement=CONTENTS_ENTITLEMENT,
        verify_only=False,
    )
    empty_folders = sum(
        1
        for item in items
        if not item.get("hasChildren")
        and isinstance(item.get("contentHandler"), dict)
        and item["contentHandler"].get("id") == FOLDER
    )
    return len(items), len(items) - empty_folders


async def column_count(wire: Transport, course_pk: str) -> int:
    """How many gradebook columns a course has."""
    columns = await listed(
        wire,
        f"{course_path(course_pk, 'v2')}/gradebook/columns",
        "GET /v2/courses/{id}/gradebook/columns",
        {"fields": "id", "limit": str(LIST_PAGE)},
        counted="gradebook columns",
        course=course_pk,
        entitlement=COLUMNS_ENTITLEMENT,
        verify_only=True,
    )
    return len(columns)


async def listed(
    wire: Transport,
    url: str,
    endpoint: str,
    params: dict[str, str],
    *,
    counted: str,
    course: str,
    entitlement: str,
    verify_only: bool,
) -> list[dict[str, Any]]:
    """Every item of a list the tool counts or reads whole (counts, dated items). Learn's 403
    there says the integration user lacks an entitlement, for every course alike:
    CountRefused names it."""
    try:
        return await wire.all(url, endpoint, params)
    except LearnError as exc:
        if error_meaning(Call.LIST, exc) is not Meaning.UNENTITLED:
            raise
        raise CountRefused(
            exc.status,
            exc.learn_message,
            counted=counted,
            course=course,
            entitlement=entitlement,
            verify_only=verify_only,
            code=exc.code,
            endpoint=exc.endpoint,
        ) from exc
