"""What each HTTP status Learn answers means, per kind of call: the one place that decides.

The client retries what is `RETRY`; the engine, reconciliation and the preflight act on the
rest, and read a missing thing through `found`: nothing else maps a status to a decision.
Before this table, five places decided and disagreed (403 stopped the run on a copy but failed
the row on a PATCH; 501 was not retried yet counted as "Learn is sick").

A web page where Learn's JSON should be (a sign-on gateway, a proxy), whatever its status, is
not Learn's answer and is not looked up here: the client retries it like a 5xx
(`_retry.failure_is_transient`), then raises LearnAnsweredPage, which stops the run; on the copy
POST it is CopyOutcomeUnknown, reconciled as a 5xx is here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from enum import StrEnum
from typing import TypeVar

from rollover.errors import LearnError, LearnProtocolError

# Answers that may pass if the same call is sent again: timeouts, the rate limiter, and a server
# or proxy that failed for now. 501 and 505 say the server never will, so they are not here.
TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


class Call(StrEnum):
    """The kinds of call whose answers mean different things."""

    TOKEN = "token"
    COPY = "copy"  # the copy POST: never repeated, its answer decides whether Learn applied it
    COPY_INTO = "copy into"  # the same POST, into an existing course (copy_into_existing)
    POLL = "poll"  # a task Location
    READ = "read"  # GET a course, term, user, list
    CHANGE = "change"  # an idempotent change: PATCH a course, PATCH a membership
    ENROL = "enrol"  # PUT a membership: a change that may find the user a member already
    ENROL_EARLY = "enrol early"  # the same PUT while the copy that makes its course runs
    ATTACH = "attach"  # PUT a child course under a parent (merged sections): an idempotent change
    CHILDREN = "children"  # GET a course's children (merged sections)
    # GET a list the tool counts or reads whole (content items, gradebook columns, dated
    # items): a 403 there is an entitlement the integration user lacks for every course.
    LIST = "list"
    # PATCH an item's dates (a content item, a gradebook column, an announcement): an
    # idempotent change, its values absolute; a 404 says the item is gone.
    SHIFT = "shift"


class Meaning(StrEnum):
    """What the run does about an answer."""

    OK = "ok"
    RETRY = "retry"  # transient: idempotent calls are sent again, then the run stops (resumable)
    NOT_APPLIED = "not applied"  # the copy provably did not happen: the row may request it later
    ROW_FAILED = "row failed"  # Learn refused this row's request: the row fails, the run goes on
    RECONCILE = "reconcile"  # the copy may or may not have happened: ask Learn's courses
    TASK_GONE = "task gone"  # the task can no longer say how the copy ended: find the course
    FATAL = "fatal"  # the run cannot go on: the credentials were refused
    NOT_FOUND = "not found"  # a call naming something that does not exist: the caller decides
    EXISTS = "exists"  # an enrolment of a member: read the membership, make it as asked
    NOT_YET = "not yet"  # Learn does not show the copy's new course yet: enrol after the copy
    # An attach refused: read the child; already this parent's child is done (a retry after a
    # lost answer), another's child or a parent itself fails the row.
    CHECK_CHILD = "check child"
    EMPTY = "empty"  # a list Learn refuses for a course that has none: no children
    # The integration user lacks an entitlement that holds for every course alike: the run
    # stops (resumable) rather than failing row after row.
    UNENTITLED = "unentitled"


# Answers to a copy POST that say Learn did not make it: the spec's 400 and 404 (source not
# found), and request shapes a server rejects before any work.
_COPY_REFUSED = frozenset({400, 403, 404, 405, 413, 415, 422})

# The answers each call succeeds with. The copy POST succeeds only with 202 and its Location: a
# 200 (or 201, 204) from a proxy says nothing of whether Learn made the copy. A task answers 200
# while the copy runs and 303 to the course once it is done.
SUCCESS = tuple(range(200, 300))  # every other call: any 2xx
_OK: dict[Call, Collection[int]] = {
    Call.COPY: (202,),
    Call.COPY_INTO: (202,),
    Call.POLL: (200, 303),
}


def is_transient(status: int) -> bool:
    """Whether an answer with this status may pass if the same call is sent again."""
    return status in TRANSIENT


def meaning(call: Call, status: int) -> Meaning:
    """What an answer with `status` to a call of kind `call` means for the run."""
    if status in _OK.get(call, SUCCESS):
        return Meaning.OK
    if status == 401:
        return Meaning.FATAL  # the client has already renewed the token once
    if call is Call.TOKEN:
        return Meaning.RETRY if is_transient(status) else Meaning.FATAL
    if call in (Call.COPY, Call.COPY_INTO):
        if status == 429:  # Learn's rate limiter answers before any work is done
            return Meaning.NOT_APPLIED
        if status in _COPY_REFUSED:
            return Meaning.ROW_FAILED
        if status == 409 and call is Call.COPY_INTO:
            # A copy into an existing course asks for no new courseId: nothing of ours can
            # be taken, so Learn refused it.
            return Meaning.ROW_FAILED
        # 409 (the courseId exists: ours from a lost answer, or someone else's), 5xx, and any
        # answer Learn does not document for this call: applied or not, unknown.
        return Meaning.RECONCILE
    if call in (Call.ENROL, Call.ENROL_EARLY) and status == 409:
        return Meaning.EXISTS  # the user is a member already, perhaps not as asked
    if call is Call.ATTACH and status in (400, 409):
        return Meaning.CHECK_CHILD
    if call in (Call.ATTACH, Call.LIST) and status == 403:
        return Meaning.UNENTITLED  # merging needs the cross-list entitlement; lists theirs
    if call is Call.CHILDREN and status == 400:
        return Meaning.EMPTY  # "Course not a cross-listed parent": it has no children
    if call is Call.ENROL_EARLY and status == 404:
        # While the copy runs Learn may not show its new course yet: a 404 is the user's or
        # the role's only once the copy has ended.
        return Meaning.NOT_YET
    if is_transient(status):
        return Meaning.RETRY
    if call is Call.POLL and status != 403:
        return Meaning.TASK_GONE  # 404 "task not found", malformed or undocumented answers
    if call in (Call.READ, Call.LIST, Call.CHILDREN, Call.ATTACH, Call.SHIFT) and status == 404:
        return Meaning.NOT_FOUND
    return Meaning.ROW_FAILED


def error_meaning(call: Call, exc: LearnError) -> Meaning:
    """What a LearnError raised by a call of kind `call` means; an answer Learn's API never
    gives (malformed, a 303 without Location, a Location to another host) reads like a status
    that says nothing: the copy's outcome is unknown, and a task that says it is gone."""
    if isinstance(exc, LearnProtocolError):
        return {
            Call.COPY: Meaning.RECONCILE,
            Call.COPY_INTO: Meaning.RECONCILE,
            Call.POLL: Meaning.TASK_GONE,
            Call.TOKEN: Meaning.FATAL,
        }.get(call, Meaning.ROW_FAILED)
    return meaning(call, exc.status)


_Answer = TypeVar("_Answer")


async def found(read: Awaitable[_Answer]) -> _Answer | None:
    """The answer to a read, or None when Learn says what it reads does not exist
    (`Meaning.NOT_FOUND`); every other error is raised."""
    try:
        return await read
    except LearnError as exc:
        if error_meaning(Call.READ, exc) is not Meaning.NOT_FOUND:
            raise
        return None
