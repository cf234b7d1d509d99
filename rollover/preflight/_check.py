"""The Learn check: per row that still has work, its source exists, its new target's courseId
is free (or this ledger made that course), its shell exists (`copy_into_existing`) and is
empty, its term and its instructors exist, and each merged section it attaches exists, is no
other course's section and no parent itself (one holding content is a warning); what a run
would do with each row, and what it would cost. `Asker` does the asking (only GETs are sent);
`_sections` judges the merged sections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

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
from rollover.manifest import Enrolment, ManifestRow
from rollover.plan import (
    POLLS_PER_COPY,
    PROFILES,
    CopyOptions,
    DateShift,
    RowSpec,
    row_spec,
    source_calls,
)

from ._asker import PAGE_SIZE, Asker, together
from ._dates import RowShift, read_sources, unknown_reader
from ._lists import CourseList
from ._sections import (
    as_synced,
    section_problems,
    section_warnings,
    sections_left,
    sections_to_ask,
    uncounted,
)

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


# The stages at which a run still patches a row, enrols its instructors and attaches its sections.
WORKING = (Stage.COPY, Stage.IN_FLIGHT, Stage.PATCH)


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
class PreflightReport:
    """What the check found: the plan by stage, the problems (and warnings, which stop
    nothing), its cost and the quota left."""

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
    sections_asked: int = 0  # merged sections to attach, among `courses_asked`
    sections_counted: int = 0  # of them, whose content was listed
    parents_asked: int = 0  # other courses already parent of a section, asked for their courseId
    warnings: tuple[PreflightProblem, ...] = ()
    # The rows a run would shift the dates of, with their offsets and their sources' dated
    # items; and the lists of dated items read to count them.
    shifts: tuple[RowShift, ...] = ()
    date_lists: int = 0

    @property
    def date_patches(self) -> int | None:
        """One PATCH per dated item the shifted rows' sources hold; None when a source's
        items could not be counted."""
        counts = [shift.dated for shift in self.shifts]
        if any(count is None for count in counts):
            return None
        return sum(count.total for count in counts if count is not None)

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
    shift_dates: DateShift | None = None,
    calendar_reader: Enrolment | None = None,
    zone: ZoneInfo | None = None,
) -> PreflightReport:
    """Check every row that still has work against Learn; only GETs are sent. With `verify`,
    one source's content and gradebook columns are listed too, when some row's copy profile
    promises them, so a missing entitlement stops the run before its first copy. The sources
    of rows that shift dates (their cell's shift, else `shift_dates`) have their dated items
    counted, and for `term` their start read (the offset counted in `zone`'s dates)."""
    known = {row.target_course_id: row for row in ledger_rows}
    specs = {
        row.target_course_id: row_spec(
            row, profiles, shift_dates=shift_dates, calendar_reader=calendar_reader
        )
        for row in rows
    }
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
        if row.term_id and stage in WORKING:
            term_refs[term_reference(row.term_id)] = None
    sections = {
        id_form(child): None
        for row, ledger_row, stage in staged
        if _attaches(row, ledger_row, stage)
        for child in row.children
    }
    course_refs.update(sections)
    calls_before = sum(client.calls.values())
    asker = Asker(client, page_size)
    await asker.ask(list(course_refs), list(term_refs))
    users = {
        enrolment.user_id: None
        for row, _, stage in staged
        if stage in WORKING
        for enrolment in row.instructors
    }
    # The Learn user --shift-calendar enrols in each shifted course to read its calendar.
    reading = [r for r, _, stage in staged if stage in WORKING and specs[r.target_course_id].shift]
    if calendar_reader and reading:
        users[calendar_reader.user_id] = None
    shells = {
        pk: None
        for row, ledger_row, stage in staged
        if stage is Stage.COPY
        and row.copy_into_existing
        and (pk := asker.courses.get(id_form(row.target_course_id)))
        and shell_must_be_empty(ledger_row, pk)
    }
    # A section still to attach: what it holds (a warning), and whose section it is already.
    attaching = [(row, known) for row, known, stage in staged if _attaches(row, known, stage)]
    to_count, parents = sections_to_ask(attaching, asker)
    await together(
        [
            asker.ask_teaching(list(users), list(shells)),
            asker.ask_sections(to_count, parents),
        ]
    )
    problems = [
        problem
        for row, ledger_row, stage in staged
        for problem in _problems(
            row, specs[row.target_course_id], ledger_row, stage, asker, allow_nonempty_shell
        )
    ]
    warnings = [
        PreflightProblem(row.line, "child_course_ids", child, message)
        for row, known in attaching
        for child, message in section_warnings(row, asker)
    ]
    if calendar_reader and reading and asker.users.get(calendar_reader.user_id) is False:
        problems.append(PreflightProblem(*unknown_reader(reading[0].line, calendar_reader)))
    if asker.sections_refused is not None:
        value, message = uncounted(attaching[0][0], asker.sections_refused)
        warnings.append(PreflightProblem(attaching[0][0].line, "child_course_ids", value, message))
    if verify:
        verified = [
            (row, specs[row.target_course_id]) for row, _, stage in staged if stage in WORKING
        ]
        problems += await _counts_refused(client, verified)
    shifting = [
        (row, specs[row.target_course_id])
        for row, _, stage in staged
        if stage in WORKING and specs[row.target_course_id].shift is not None
    ]
    dates = await read_sources(client, shifting, zone or ZoneInfo("UTC"))
    problems += [
        PreflightProblem(line, "shift_dates", value, message)
        for line, value, message in dates.problems
    ]
    return PreflightReport(
        stages={stage: sum(1 for *_, s in staged if s is stage) for stage in Stage},
        problems=tuple(problems),
        courses_asked=len(course_refs),
        terms_asked=len(term_refs),
        users_asked=len(users),
        shells_counted=len(shells),
        sections_asked=len(sections),
        sections_counted=len(to_count),
        parents_asked=len(parents),
        warnings=tuple(warnings),
        shifts=dates.rows,
        date_lists=dates.lists,
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
        )
        + _patches_left(dates.rows, known),
        quota_remaining=client.quota_remaining,
        quota_limit=client.quota_limit,
    )


def _attaches(row: ManifestRow, known: LedgerRow | None, stage: Stage) -> bool:
    """Whether a run would attach some of the row's sections: it still has work, and some."""
    return stage in WORKING and sections_left(row, known)


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
    asker: Asker,
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
        elif (
            row.copy_into_existing
            and (standing := asker.standings.get(id_form(row.target_course_id))) is not None
            and standing.parent_pk is not None
        ):
            yield problem(
                "target_course_id",
                row.target_course_id,
                f"the shell is a section merged into another course ({standing.parent_pk}): "
                "Learn manages a merged section's content from its parent, so a copy into it "
                "would not reach its students; copy into the parent instead, or separate the "
                "section in Learn first",
            )
        elif not row.copy_into_existing and target_pk is not None and not produced:
            yield problem(
                "target_course_id",
                row.target_course_id,
                f"Learn already has a course with this courseId ({target_pk}) that "
                "this ledger did not make: choose another target_course_id",
            )
    if row.term_id and stage in WORKING and not asker.terms.get(term_reference(row.term_id)):
        yield problem("term_id", row.term_id, "no such term in Learn")
    for enrolment in row.instructors:
        if asker.users.get(enrolment.user_id) is False:
            yield problem(
                "instructors",
                enrolment.user_id,
                "no such user in Learn: correct the id (userName:, externalId: or _N_1) or "
                "remove the user from the cell",
            )
    if _attaches(row, known, stage):
        for child, message in section_problems(row, known, asker):
            yield problem("child_course_ids", child, message)
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


def _patches_left(shifts: Iterable[RowShift], known: Mapping[str, LedgerRow]) -> int:
    """The PATCHes of dated items the run still sends: its source's counted items, less those
    the ledger already moved (a source not counted adds none: its lists are counted)."""
    return sum(
        max(0, shift.dated.total - (row.dates_shifted if row else 0))
        for shift in shifts
        if shift.dated is not None
        for row in [known.get(shift.target_course_id)]
    )


def _run_calls(
    staged: Sequence[tuple[RowSpec, LedgerRow | None, State]],
    *,
    verify: bool = False,
) -> int:
    """About how many calls the run still needs (`calls_left` each row from the state it
    starts from, its sources' counts and the token)."""
    calls = sum(
        calls_left(spec, as_synced(spec, known), state, verify=verify, polls=POLLS_PER_COPY)
        for spec, known, state in staged
    )
    to_do = [spec for spec, known, state in staged if state not in TERMINAL]
    return round(calls) + source_calls(to_do, verify=verify) + (1 if to_do else 0)
