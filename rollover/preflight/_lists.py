"""The course-list grouping: courseIds that share a part (a department prefix, a term suffix)
are asked about by one list filtered on it (`GET /v3/courses?courseId=part`) instead of one GET
each. Learn's filter matches substrings, so membership is decided by the caller on exact
courseIds."""

from __future__ import annotations

import heapq
from collections.abc import Collection
from dataclasses import dataclass

# Shorter filters match a large share of any site's courses; fewer ids are cheaper one by one.
MIN_FILTER = 4
MIN_LIST_GROUP = 4


@dataclass(frozen=True)
class ListGroup:
    """courseIds asked about by one list, filtered on a part they all share."""

    part: str
    course_ids: frozenset[str]


@dataclass(frozen=True)
class CourseList:
    """One list read instead of per-id GETs: its filter, the ids it covered, its pages."""

    part: str
    course_ids: int
    pages: int
    complete: bool  # False: it grew too long and the ids it had not found were asked by id


def group_by_shared_part(
    course_ids: Collection[str],
    *,
    min_group: int = MIN_LIST_GROUP,
) -> tuple[list[ListGroup], list[str]]:
    """Split courseIds into list groups (many ids sharing a prefix or suffix) and the rest.

    Greedy: the part shared by the most ids first, the longest (most selective) on a tie.
    """
    holders: dict[str, set[str]] = {}
    for course_id in course_ids:
        for part in _parts(course_id):
            holders.setdefault(part, set()).add(course_id)
    heap = [(-len(ids), -len(part), part) for part, ids in holders.items() if len(ids) >= min_group]
    heapq.heapify(heap)
    remaining, groups = set(course_ids), []
    while heap:
        size, length, part = heapq.heappop(heap)
        members = holders[part] & remaining
        if len(members) < min_group:
            continue
        if len(members) < -size:  # some ids went to an earlier group: rank it again
            heapq.heappush(heap, (-len(members), length, part))
            continue
        groups.append(ListGroup(part, frozenset(members)))
        remaining -= members
    return groups, sorted(remaining)


def _parts(course_id: str) -> set[str]:
    # Institutions build courseIds from a department/course prefix and a term/section suffix.
    lengths = range(MIN_FILTER, len(course_id) + 1)
    return {course_id[:n] for n in lengths} | {course_id[-n:] for n in lengths}
