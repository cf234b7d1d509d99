"""What a course holds, read: content items (a level, or all) and gradebook columns."""

from __future__ import annotations

from typing import Any

from ._config import GRADEBOOK_ENTITLEMENT
from ._replies import (
    LearnRefusal,
    Reply,
    page_of,
)
from ._site import API, SiteCore, query_flag

CONTENTS_PAGE_SIZE = 200


class ContentCalls(SiteCore):
    """GET contents, a folder's children and gradebook columns; content and column counts."""

    def content_count(self, course_ref: str) -> int:
        """How many content items the course holds now, at all levels, folders included."""
        self._caught_up()
        return len(self.teaching.view(self._known(course_ref).primary_id).contents)

    def column_count(self, course_ref: str) -> int:
        """How many gradebook columns the course has now."""
        self._caught_up()
        return len(self.teaching.view(self._known(course_ref).primary_id).columns)

    def list_contents(
        self, course_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /v1/courses/{id}/contents: the top level, or every level with recursive=true."""

        def answer(now: float) -> Reply:
            course = self._course(course_ref)
            items = self.teaching.view(course.primary_id).content_items(
                None, recursive=query_flag(query, "recursive")
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
            items = holdings.content_items(content_id, recursive=query_flag(query, "recursive"))
            path = f"{API}/v1/courses/{course.primary_id}/contents/{content_id}/children"
            return Reply(200, _page(items, path, query, CONTENTS_PAGE_SIZE))

        return self._serve("GET /v1/courses/{id}/contents/{id}/children", authorization, answer)

    def list_columns(
        self, version: str, course_ref: str, query: dict[str, str], authorization: str | None
    ) -> Reply:
        """GET /{version}/courses/{id}/gradebook/columns: the course's grade columns (those of
        one content item with `contentId`), paged."""

        def answer(now: float) -> Reply:
            course = self._course(course_ref)
            if GRADEBOOK_ENTITLEMENT in self.config.missing_entitlements:
                raise LearnRefusal(403, "User is not authorized to view the gradebook columns")
            columns = self.teaching.view(course.primary_id).gradebook_columns()
            if "contentId" in query:  # the column(s) grading one content item
                columns = [c for c in columns if c.get("contentId") == query["contentId"]]
            path = f"{API}/{version}/courses/{course.primary_id}/gradebook/columns"
            return Reply(200, page_of(columns, path, query, query.get("fields")))

        return self._serve(
            f"GET /{version}/courses/{{id}}/gradebook/columns", authorization, answer
        )


def _page(
    items: list[dict[str, Any]], path: str, query: dict[str, str], size: int
) -> dict[str, Any]:
    return page_of(items, path, query, query.get("fields"), default_limit=size)
