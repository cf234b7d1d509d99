"""How preflight asks Learn: about each course and term once, the cheaper way (one list for
courseIds that share a part, else a GET by id), and about instructors, shells and the merged
sections to attach; only GETs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from rollover.errors import CountRefused
from rollover.learn import LearnClient, found

from ._lists import CourseList, ListGroup, group_by_shared_part

# The most courses Learn's course list gives in one page: a larger `limit` is not honoured.
PAGE_SIZE = 100
COURSE_ID = "courseId:"
# What a course read tells, by id or in a list: enough to say where it stands among merged
# courses, so a section to attach costs no call more than any other course.
COURSE_FIELDS = "id,courseId,parentId,hasChildren"


@dataclass(frozen=True)
class Standing:
    """Where a course Learn has stands among merged courses, as its course record says."""

    pk: str  # its primary id
    parent_pk: str | None  # the parent's primary id, when it is a merged section (a child)
    is_parent: bool  # Learn's `hasChildren`: it has merged sections of its own


class Asker:
    """Asks Learn about each course and term once, the cheaper way, and keeps the answers."""

    def __init__(self, client: LearnClient, page_size: int) -> None:
        self.client = client
        self.page_size = page_size
        self.courses: dict[str, str | None] = {}  # ref -> primary id, None if Learn has none
        self.standings: dict[str, Standing] = {}  # ref -> the course's standing, if Learn has it
        self.terms: dict[str, bool] = {}
        self.lists: list[CourseList] = []
        self.course_gets = 0
        self.users: dict[str, bool] = {}  # user ref -> whether Learn has the user
        self.shells: dict[str, int] = {}  # shell primary id -> items other than empty folders
        self.sections: dict[str, int] = {}  # section primary id -> items other than empty folders
        self.sections_refused: CountRefused | None = None  # Learn's 403 on a section's content
        self.parents: dict[str, str | None] = {}  # primary id -> courseId, None if Learn has none

    async def ask_teaching(self, user_refs: Collection[str], shells: Collection[str]) -> None:
        """Whether each instructor exists (one GET per distinct user), and what each shell
        that would be copied into holds."""
        await together(
            [
                *(self._get_user(ref) for ref in user_refs),
                *(self._count_shell(shell) for shell in shells),
            ]
        )

    async def _get_user(self, ref: str) -> None:
        self.users[ref] = await found(self.client.get_user(ref, "id")) is not None

    async def _count_shell(self, shell: str) -> None:
        self.shells[shell] = (await self.client.content_counts(shell))[1]

    async def ask_sections(self, sections: Collection[str], parents: Collection[str]) -> None:
        """What each merged section (by primary id) to attach holds, and the courseId of each
        other course that is already a parent of one; a 403 on the content is kept, not raised
        (the count is a warning's, and the run never counts a section)."""
        await together(
            [
                *(self._count_section(section) for section in sections),
                *(self._get_parent(parent) for parent in parents),
            ]
        )

    async def _count_section(self, section: str) -> None:
        try:
            self.sections[section] = (await self.client.content_counts(section))[1]
        except CountRefused as refused:
            self.sections_refused = self.sections_refused or refused

    async def _get_parent(self, pk: str) -> None:
        course = await found(self.client.get_course(pk, "id,courseId"))
        self.parents[pk] = None if course is None else str(course.get("courseId") or "") or None

    async def ask(self, course_refs: Collection[str], term_refs: Collection[str]) -> None:
        """Learn's answer for every course and term ref."""
        listable = [ref.removeprefix(COURSE_ID) for ref in course_refs if ref.startswith(COURSE_ID)]
        groups, singles = group_by_shared_part(listable)
        direct = [ref for ref in course_refs if not ref.startswith(COURSE_ID)]
        await together(
            [
                *(self._list(group) for group in groups),
                *(self._get_course(ref) for ref in [*direct, *(COURSE_ID + c for c in singles)]),
                *(self._get_term(ref) for ref in term_refs),
            ]
        )

    async def _get_course(self, ref: str) -> None:
        self.course_gets += 1
        course = await found(self.client.get_course(ref, COURSE_FIELDS))
        self._found(ref, course)

    def _found(self, ref: str, course: dict[str, Any] | None) -> None:
        """Keep what Learn said of the course `ref` names (None: it has no such course)."""
        if course is None:
            self.courses[ref] = None
            return
        pk = str(course.get("id") or "")
        parent = course.get("parentId")
        self.courses[ref] = pk
        self.standings[ref] = Standing(
            pk,
            parent if isinstance(parent, str) and parent else None,
            course.get("hasChildren") is True,
        )

    async def _get_term(self, ref: str) -> None:
        self.terms[ref] = await found(self.client.get_term(ref, "id")) is not None

    async def _list(self, group: ListGroup) -> None:
        """Read the filtered list while it is cheaper than asking its ids one by one.

        Learn does not say how long a list is until it has been read, so a list may take at
        most half the calls its GETs would cost; past that, what it has not found is asked by id.
        """
        wanted = set(group.course_ids)
        budget, pages, complete = max(1, len(wanted) // 2), 0, False
        params = {"courseId": group.part, "fields": COURSE_FIELDS, "limit": str(self.page_size)}
        async with contextlib.aclosing(self.client.list_courses(params)) as listing:
            async for results, more in listing:
                pages += 1
                for course in results:
                    course_id = course.get("courseId")
                    if course_id in wanted:  # exact: the filter also matches longer courseIds
                        self._found(COURSE_ID + str(course_id), course)
                        wanted.discard(str(course_id))
                complete = not more
                if complete or len(wanted) <= 1 or pages >= budget:
                    break
        self.lists.append(CourseList(group.part, len(group.course_ids), pages, complete))
        if complete:
            self.courses.update((COURSE_ID + course_id, None) for course_id in wanted)
        else:
            await together(self._get_course(COURSE_ID + c) for c in sorted(wanted))


async def together(calls: Iterable[Coroutine[Any, Any, None]]) -> None:
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
