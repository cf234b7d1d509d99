"""How preflight asks Learn: about each course and term once, the cheaper way (one list for
courseIds that share a part, else a GET by id), and about instructors and shells; only GETs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Coroutine, Iterable
from typing import Any

from rollover.learn import LearnClient, found

from ._lists import CourseList, ListGroup, group_by_shared_part

# The most courses Learn's course list gives in one page: a larger `limit` is not honoured.
PAGE_SIZE = 100
COURSE_ID = "courseId:"


class Asker:
    """Asks Learn about each course and term once, the cheaper way, and keeps the answers."""

    def __init__(self, client: LearnClient, page_size: int) -> None:
        self.client = client
        self.page_size = page_size
        self.courses: dict[str, str | None] = {}  # ref -> primary id, None if Learn has none
        self.terms: dict[str, bool] = {}
        self.lists: list[CourseList] = []
        self.course_gets = 0
        self.users: dict[str, bool] = {}  # user ref -> whether Learn has the user
        self.shells: dict[str, int] = {}  # shell primary id -> items other than empty folders

    async def ask_teaching(self, user_refs: Collection[str], shells: Collection[str]) -> None:
        """Whether each instructor exists (one GET per distinct user), and what each shell
        that would be copied into holds."""
        await _together(
            [
                *(self._get_user(ref) for ref in user_refs),
                *(self._count_shell(shell) for shell in shells),
            ]
        )

    async def _get_user(self, ref: str) -> None:
        self.users[ref] = await found(self.client.get_user(ref, "id")) is not None

    async def _count_shell(self, shell: str) -> None:
        self.shells[shell] = (await self.client.content_counts(shell))[1]

    async def ask(self, course_refs: Collection[str], term_refs: Collection[str]) -> None:
        """Learn's answer for every course and term ref."""
        listable = [ref.removeprefix(COURSE_ID) for ref in course_refs if ref.startswith(COURSE_ID)]
        groups, singles = group_by_shared_part(listable)
        direct = [ref for ref in course_refs if not ref.startswith(COURSE_ID)]
        await _together(
            [
                *(self._list(group) for group in groups),
                *(self._get_course(ref) for ref in [*direct, *(COURSE_ID + c for c in singles)]),
                *(self._get_term(ref) for ref in term_refs),
            ]
        )

    async def _get_course(self, ref: str) -> None:
        self.course_gets += 1
        course = await found(self.client.get_course(ref, "id"))
        self.courses[ref] = None if course is None else str(course.get("id") or "")

    async def _get_term(self, ref: str) -> None:
        self.terms[ref] = await found(self.client.get_term(ref, "id")) is not None

    async def _list(self, group: ListGroup) -> None:
        """Read the filtered list while it is cheaper than asking its ids one by one.

        Learn does not say how long a list is until it has been read, so a list may take at
        most half the calls its GETs would cost; past that, what it has not found is asked by id.
        """
        wanted = set(group.course_ids)
        budget, pages, complete = max(1, len(wanted) // 2), 0, False
        params = {"courseId": group.part, "fields": "id,courseId", "limit": str(self.page_size)}
        async with contextlib.aclosing(self.client.list_courses(params)) as listing:
            async for results, more in listing:
                pages += 1
                for course in results:
                    course_id = course.get("courseId")
                    if course_id in wanted:  # exact: the filter also matches longer courseIds
                        self.courses[COURSE_ID + str(course_id)] = str(course.get("id") or "")
                        wanted.discard(str(course_id))
                complete = not more
                if complete or len(wanted) <= 1 or pages >= budget:
                    break
        self.lists.append(CourseList(group.part, len(group.course_ids), pages, complete))
        if complete:
            self.courses.update((COURSE_ID + course_id, None) for course_id in wanted)
        else:
            await _together(self._get_course(COURSE_ID + c) for c in sorted(wanted))


async def _together(calls: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the calls at once (the client bounds connections); the first failure is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(call)
    except BaseExceptionGroup as failed:
        raise _first_failure(failed) from None


def _first_failure(failed: BaseExceptionGroup[BaseException]) -> BaseException:
    first = failed.exceptions[0]
    return _first_failure(first) if isinstance(first, BaseExceptionGroup) else first
