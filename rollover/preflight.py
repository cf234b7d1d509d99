"""Live preflight: check a manifest against Learn before anything is copied, changing nothing.

Per row that still has work: its source exists, its new target's courseId is free (or this
ledger made that course), its shell exists (`copy_into_existing`) and its term exists. Each
course and term is asked about once, by id (`GET /v3/courses/courseId:X?fields=id`) or, when
many courseIds share a part, by one list filtered on it (`GET /v3/courses?courseId=part`).
Learn's filter matches substrings, so membership is decided here on exact courseIds. Only GETs
are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Collection, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rollover.errors import CountRefused
from rollover.learn import LearnClient, found, id_form, term_reference
from rollover.ledger import (
    TERMINAL,
    LedgerRow,
    State,
    calls_left,
    manifest_change,
    planned_state,
    shell_must_be_empty,
)
from rollover.manifest import ManifestRow
from rollover.plan import (
    POLLS_PER_COPY,
    PROFILES,
    CopyOptions,
    RowSpec,
    row_spec,
    source_calls,
)

# The most courses Learn's course list gives in one page: a larger `limit` is not honoured.
PAGE_SIZE = 100
# Shorter filters match a large share of any site's courses; fewer ids are cheaper one by one.
MIN_FILTER = 4
MIN_LIST_GROUP = 4
COURSE_ID = "courseId:"
# Ledger states in which the row's own copy request is known to Learn: its target is ours.
PRODUCED = frozenset({State.LOCATED, State.COPIED, State.PATCHED, State.DONE})


class Stage(StrEnum):
    """What a run would do with a row, judged from the ledger beside the manifest (the CLI
    says it in words)."""

    COPY = "copy"
    PATCH = "patch"
    DONE = "done"
    IN_FLIGHT = "in_flight"
    HELD = "held"


@dataclass(frozen=True)
class PreflightProblem:
    """One row Learn cannot carry out as written: its line, column, value and why."""

    line: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column} {self.value!r}: {self.message}"


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


@dataclass(frozen=True)
class PreflightReport:
    """What the check found: the plan by stage, the problems, its cost and the quota left."""

    stages: dict[Stage, int]
    problems: tuple[PreflightProblem, ...]
    courses_asked: int
    terms_asked: int
    course_gets: int
    lists: tuple[CourseList, ...]
    calls: int
    run_calls: int
    quota_remaining: int | None
    quota_limit: int | None
    foreign_ledger: str | None = None  # a ledger of another site, not trusted: why
    users_asked: int = 0
    shells_counted: int = 0

    @property
    def rows(self) -> int:
        """Manifest rows checked."""
        return sum(self.stages.values())


_STAGE_OF_STATE = {
    State.PENDING: Stage.COPY,
    State.INTENT: Stage.IN_FLIGHT,
    State.LOCATED: Stage.IN_FLIGHT,
    State.COPIED: Stage.PATCH,
    State.PATCHED: Stage.PATCH,
    State.DONE: Stage.DONE,
    State.FAILED: Stage.HELD,
    State.NEEDS_REVIEW: Stage.HELD,
}


def stage_of(spec: RowSpec, known: LedgerRow | None, *, retry_failed: bool = False) -> Stage:
    """What a run would do with this row: the ledger's own rule (`planned_state`) decides."""
    return _STAGE_OF_STATE[planned_state(known, spec, retry_failed=retry_failed)]


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


class _Asker:
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


async def check_learn(
    rows: Sequence[ManifestRow],
    ledger_rows: Sequence[LedgerRow],
    client: LearnClient,
    *,
    page_size: int = PAGE_SIZE,
    retry_failed: bool = False,
    profiles: Mapping[str, CopyOptions | None] = PROFILES,
    allow_nonempty_shell: bool = False,
    verify: bool = False,
) -> PreflightReport:
    """Check every row that still has work against Learn; only GETs are sent. With `verify`,
    one source's content and gradebook columns are listed too, when some row's copy profile
    promises them, so a missing entitlement stops the run before its first copy."""
    known = {row.target_course_id: row for row in ledger_rows}
    specs = {row.target_course_id: row_spec(row, profiles) for row in rows}
    staged = [
        (
            row,
            known.get(row.target_course_id),
            stage_of(
                specs[row.target_course_id],
                known.get(row.target_course_id),
                retry_failed=retry_failed,
            ),
        )
        for row in rows
    ]
    course_refs: dict[str, None] = {}
    term_refs: dict[str, None] = {}
    for row, ledger_row, stage in staged:
        if _needs_source(stage, ledger_row):
            course_refs[id_form(row.source_course_id)] = None
        if stage is Stage.COPY:
            course_refs[id_form(row.target_course_id)] = None
        if row.term_id and stage in (Stage.COPY, Stage.IN_FLIGHT, Stage.PATCH):
            term_refs[term_reference(row.term_id)] = None
    calls_before = sum(client.calls.values())
    asker = _Asker(client, page_size)
    await asker.ask(list(course_refs), list(term_refs))
    users = {
        enrolment.user_id: None
        for row, _, stage in staged
        if stage in (Stage.COPY, Stage.IN_FLIGHT, Stage.PATCH)
        for enrolment in row.instructors
    }
    shells = {
        pk: None
        for row, ledger_row, stage in staged
        if stage is Stage.COPY
        and row.copy_into_existing
        and (pk := asker.courses.get(id_form(row.target_course_id)))
        and shell_must_be_empty(ledger_row, pk)
    }
    await asker.ask_teaching(list(users), list(shells))
    problems = [
        problem
        for row, ledger_row, stage in staged
        for problem in _problems(
            row, specs[row.target_course_id], ledger_row, stage, asker, allow_nonempty_shell
        )
    ]
    if verify:
        verified = [
            (row, specs[row.target_course_id])
            for row, _, stage in staged
            if stage in (Stage.COPY, Stage.IN_FLIGHT, Stage.PATCH)
        ]
        problems += await _counts_refused(client, verified)
    return PreflightReport(
        stages={stage: sum(1 for *_, s in staged if s is stage) for stage in Stage},
        problems=tuple(problems),
        courses_asked=len(course_refs),
        terms_asked=len(term_refs),
        users_asked=len(users),
        shells_counted=len(shells),
        course_gets=asker.course_gets,
        lists=tuple(asker.lists),
        calls=sum(client.calls.values()) - calls_before,
        run_calls=_run_calls(
            [
                (
                    specs[row.target_course_id],
                    ledger_row,
                    planned_state(
                        ledger_row, specs[row.target_course_id], retry_failed=retry_failed
                    ),
                )
                for row, ledger_row, _ in staged
            ],
            verify=verify,
        ),
        quota_remaining=client.quota_remaining,
        quota_limit=client.quota_limit,
    )


def _needs_source(stage: Stage, known: LedgerRow | None) -> bool:
    # A new course's copy left at `intent` may turn out never to have been sent, and is then
    # requested again; one into an existing course is handed to a person instead.
    return stage is Stage.COPY or (
        known is not None and known.state is State.INTENT and not known.copy_into_existing
    )


def _problems(
    row: ManifestRow,
    spec: RowSpec,
    known: LedgerRow | None,
    stage: Stage,
    asker: _Asker,
    allow_nonempty_shell: bool = False,
) -> Iterable[PreflightProblem]:
    def problem(column: str, value: str, message: str) -> PreflightProblem:
        return PreflightProblem(row.line, column, value, message)

    if known is not None and manifest_change(known, spec).refusal is not None:
        yield problem(
            "source_course_id",
            row.source_course_id,
            f"this ledger already copied {row.target_course_id} from "
            f"{known.source_course_id!r} (copy_into_existing "
            f"{str(known.copy_into_existing).lower()}); copying again would duplicate "
            "it: restore that line or use a new target_course_id",
        )
    if _needs_source(stage, known) and asker.courses.get(id_form(row.source_course_id)) is None:
        yield problem("source_course_id", row.source_course_id, "no such course in Learn")
    if stage is Stage.COPY:
        target_pk = asker.courses.get(id_form(row.target_course_id))
        produced = known is not None and (known.course_pk is not None or known.state in PRODUCED)
        if row.copy_into_existing and target_pk is None:
            yield problem(
                "target_course_id",
                row.target_course_id,
                "copy_into_existing is true but Learn has no such course: create the "
                "shell first, or set copy_into_existing to false",
            )
        elif not row.copy_into_existing and target_pk is not None and not produced:
            yield problem(
                "target_course_id",
                row.target_course_id,
                f"Learn already has a course with this courseId ({target_pk}) that "
                "this ledger did not make: choose another target_course_id",
            )
    if (
        row.term_id
        and stage in (Stage.COPY, Stage.IN_FLIGHT, Stage.PATCH)
        and not asker.terms.get(term_reference(row.term_id))
    ):
        yield problem("term_id", row.term_id, "no such term in Learn")
    for enrolment in row.instructors:
        if asker.users.get(enrolment.user_id) is False:
            yield problem(
                "instructors",
                enrolment.user_id,
                "no such user in Learn: correct the id (userName:, externalId: or _N_1) or "
                "remove the user from the cell",
            )
    shell = asker.courses.get(id_form(row.target_course_id)) if row.copy_into_existing else None
    held = asker.shells.get(shell) if shell else None
    if held and not allow_nonempty_shell:
        yield problem(
            "target_course_id",
            row.target_course_id,
            f"the shell already holds {held} content item{'s' if held != 1 else ''} (empty "
            "folders aside) and a copy would be added to them: empty it in Learn, or run with "
            "--allow-nonempty-shell",
        )


async def _counts_refused(
    client: LearnClient, verified: Sequence[tuple[ManifestRow, RowSpec]]
) -> list[PreflightProblem]:
    """List one source's content items and gradebook columns when some row's --verify will
    count them (its copy profile copies them): Learn's 403 there holds for every course, so
    it is one problem, on the first row that needs the count, naming the entitlement."""
    problems: list[PreflightProblem] = []
    for counted in ("contents", "columns"):
        needing = [(row, spec) for row, spec in verified if getattr(spec.verified, counted)]
        count = client.content_counts if counted == "contents" else client.column_count
        for source in dict.fromkeys(row.source_course_id for row, _ in needing):
            try:
                if await found(count(id_form(source))) is None:
                    continue  # a missing source is a problem of its own: ask the next one
            except CountRefused as refused:
                (row, spec), more = needing[0], len(needing) - 1
                others = f" (and those of {more} other row{'s' if more > 1 else ''})"
                problems.append(
                    PreflightProblem(
                        row.line,
                        "copy_profile",
                        spec.profile,
                        f"--verify counts the {refused.counted} this row's copy brings"
                        + (others if more else "")
                        + f", but {refused.message}: {refused.hint}",
                    )
                )
            break
    return problems


def _run_calls(
    staged: Sequence[tuple[RowSpec, LedgerRow | None, State]],
    *,
    verify: bool = False,
) -> int:
    """About how many calls the run still needs (`calls_left` each row from the state it
    starts from, its sources' counts and the token)."""
    calls = sum(
        calls_left(spec, known, state, verify=verify, polls=POLLS_PER_COPY)
        for spec, known, state in staged
    )
    to_do = [spec for spec, known, state in staged if state not in TERMINAL]
    return round(calls) + source_calls(to_do, verify=verify) + (1 if to_do else 0)
