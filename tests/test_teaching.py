"""Ready to teach, in-process on a virtual clock: instructors enrolled from 15% of the copy (never
before), refused users failing the row only after the copy and PATCH, shells guarded against a
second helping of content, and `--verify` counting what arrived against the source."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from harness import (
    BASE_URL,
    TEACHERS,
    Learn,
    delete_course,
    early_or_lost,
    engine_run,
    instructors,
    make_learn,
    row,
)
from test_sandbox_teaching import bearer, member_url

from rollover.engine import RunOptions
from rollover.ledger import EnrolmentState, ErrorKind, Ledger, LedgerRow, Resolution, State
from rollover.manifest import ManifestRow
from rollover.report import result_record
from rollover.sandbox import FOLDER, SeedCourse

OPTIONS = RunOptions(poll_min=1.0, poll_max=60.0, adopt_settle=60.0)
VERIFY = replace(OPTIONS, verify=True)
NEW = "BIO-101-001-SP27"
SHELL = "HIST-210-SP27"  # an empty SIS shell (harness)
FULL = "FULL-SP27"  # a shell that already holds content
POLL = "GET /v1/courses/{id}/tasks/{id}"
PUT = "PUT /v1/courses/{id}/users/{id}"
COPY = "POST /v2/courses/{id}/copy"
PATCH = "PATCH /v3/courses/{id}"
CONTENTS = "GET /v1/courses/{id}/contents"
COLUMNS = "GET /v2/courses/{id}/gradebook/columns"
JANE, BOB, ROOT = "userName:jane.doe", "userName:bob", "userName:root"


def teaching_site(**config: object) -> Learn:
    """The harness site with its teachers, a shell holding content, and `config`."""
    config.setdefault("copy_seconds", 60.0)
    return make_learn(
        users=TEACHERS,
        courses=[SeedCourse(FULL, "A shell the SIS filled", term_id="SP27", shell=True)],
        shells_with_content=[FULL],
        **config,
    )


def new_row(*cells: str, target: str = NEW, source: str = "BIO-101-FA26") -> ManifestRow:
    """A new-course row, renamed, with the instructors `cells`."""
    return row(2, source, target, name="Biology 101 (Spring 2027)", instructors=instructors(*cells))


def shell_row(target: str, *cells: str, source: str = "CHEM-110-FA26") -> ManifestRow:
    """A copy_into_existing row, renamed, with the instructors `cells`."""
    return row(
        3,
        source,
        target,
        copy_into_existing=True,
        name=f"{target} (Spring 2027)",
        instructors=instructors(*cells),
    )


def by_target(rows: list[LedgerRow]) -> dict[str, LedgerRow]:
    """Ledger rows by target courseId."""
    return {r.target_course_id: r for r in rows}


def member_role(learn: Learn, course_id: str, user: str) -> str | None:
    """The user's course role in the course now, or None if not a member."""
    found = learn.sandbox.membership(f"courseId:{course_id}", user)
    return None if found is None else str(found["courseRoleId"])


def calls_during(learn: Learn, before: Counter[str]) -> Counter[str]:
    """The calls Learn served since `before` was taken."""
    return learn.sandbox.record.calls - before


def counts(learn: Learn, course_id: str) -> tuple[int, int]:
    """(content items at all levels, gradebook columns) of a course now."""
    ref = f"courseId:{course_id}"
    return learn.sandbox.content_count(ref), learn.sandbox.column_count(ref)


def items_held(learn: Learn, course_id: str) -> int:
    """The content items a course holds, empty folders aside."""
    course = learn.sandbox.catalog.find_course(f"courseId:{course_id}")
    assert course is not None
    items = learn.sandbox.teaching.view(course.primary_id).content_items(None, recursive=True)
    return sum(1 for item in items if item["hasChildren"] or item["contentHandler"]["id"] != FOLDER)


def enrol_beforehand(learn: Learn, course_id: str, user: str, role: str) -> None:
    """Someone (the SIS) enrolled `user` in `course_id` before the rollover."""

    async def enrol() -> None:
        async with learn.client() as client:
            await client.enrol(f"courseId:{course_id}", user, role)

    asyncio.run(enrol())
    learn.sandbox.record.enrolments.clear()


@pytest.mark.parametrize("copy_seconds", [0.5, 8.0, 60.0, 600.0])
def test_instructors_are_enrolled_from_15_percent_never_before(
    tmp_path: Path, copy_seconds: float
) -> None:
    """Two instructors (one a TeachingAssistant) are enrolled once, at 15% or later, and stay."""
    learn = teaching_site(copy_seconds=copy_seconds)
    rows = [new_row(JANE, f"{BOB}=TeachingAssistant")]
    _, final = engine_run(learn, rows, tmp_path / "l.sqlite", OPTIONS)
    assert final[0].state is State.DONE, final[0]
    assert early_or_lost(learn) == []
    assert len(learn.sandbox.record.enrolments) == 2
    assert member_role(learn, NEW, JANE) == "Instructor"
    assert member_role(learn, NEW, BOB) == "TeachingAssistant"
    assert result_record(final[0])["enrolled"] == "2 of 2"
    assert all(patch.copy_complete for patch in learn.sandbox.record.patches)


@pytest.mark.parametrize("copy_seconds", [5.0, 20.0, 60.0, 120.0, 300.0, 600.0])
def test_enrolling_during_the_copy_costs_at_most_one_more_poll(
    tmp_path: Path, copy_seconds: float
) -> None:
    """A copy long enough to be polled is enrolled during its run for one extra poll at most."""
    polls = []
    for cells in ((), (JANE,)):
        learn = teaching_site(copy_seconds=copy_seconds)
        _, final = engine_run(learn, [new_row(*cells)], tmp_path / f"{len(cells)}.sqlite", OPTIONS)
        assert final[0].state is State.DONE
        polls.append(learn.sandbox.record.calls[POLL])
    [enrolment] = learn.sandbox.record.enrolments
    assert enrolment.percent is not None and 15 <= enrolment.percent < 100, enrolment
    assert polls[0] <= polls[1] <= polls[0] + 1, polls


def test_a_member_with_another_role_gets_the_manifests_role(tmp_path: Path) -> None:
    """Learn's 409 "already enrolled" counts as done; a differing role is corrected by PATCH."""
    learn = teaching_site()
    enrol_beforehand(learn, SHELL, BOB, "Grader")
    enrol_beforehand(learn, SHELL, JANE, "Instructor")
    rows = [shell_row(SHELL, f"{BOB}=TeachingAssistant", JANE)]
    _, final = engine_run(learn, rows, tmp_path / "l.sqlite", OPTIONS)
    assert final[0].state is State.DONE, final[0]
    assert result_record(final[0])["enrolled"] == "2 of 2"
    assert member_role(learn, SHELL, BOB) == "TeachingAssistant"
    assert member_role(learn, SHELL, JANE) == "Instructor"
    calls = learn.sandbox.record.calls
    assert calls[PUT] == 2 + 2  # two beforehand, then one 409 each
    assert calls["PATCH /v1/courses/{id}/users/{id}"] == 1  # only Bob's role differed
    assert learn.sandbox.record.enrolments == []  # no new membership: both were there


def sis_disables(learn: Learn, course_id: str, user: str) -> None:
    """The SIS made `user`'s membership of `course_id` unavailable, as it does instead of
    deleting it: Learn keeps the member, with availability No."""

    async def patch() -> None:
        async with httpx.AsyncClient(transport=learn.transport, base_url=BASE_URL) as http:
            url = member_url(f"courseId:{course_id}", user)
            unavailable = {"availability": {"available": "No"}}
            answer = await http.patch(url, json=unavailable, headers=await bearer(http))
            assert answer.status_code == 200, answer.text

    asyncio.run(patch())


def availability(learn: Learn, course_id: str, user: str) -> str | None:
    """The user's membership availability in the course now, or None if not a member."""
    found = learn.sandbox.membership(f"courseId:{course_id}", user)
    return None if found is None else str(found["availability"]["available"])


def test_a_disabled_member_is_made_available_again_with_the_manifests_role(
    tmp_path: Path,
) -> None:
    """Learn's 409 for a member the SIS disabled is not done yet: one PATCH gives the membership
    the manifest's role and makes it available (Bob: other role, disabled; Jane: right role,
    disabled); nobody is enrolled afresh."""
    learn = teaching_site()
    enrol_beforehand(learn, SHELL, BOB, "Grader")
    enrol_beforehand(learn, SHELL, JANE, "Instructor")
    sis_disables(learn, SHELL, BOB)
    sis_disables(learn, SHELL, JANE)
    before = Counter(learn.sandbox.record.calls)
    rows = [shell_row(SHELL, f"{BOB}=TeachingAssistant", JANE)]
    _, final = engine_run(learn, rows, tmp_path / "l.sqlite", OPTIONS)
    assert final[0].state is State.DONE, final[0]
    assert final[0].enrolled == 2
    assert (member_role(learn, SHELL, BOB), availability(learn, SHELL, BOB)) == (
        "TeachingAssistant",
        "Yes",
    )
    assert (member_role(learn, SHELL, JANE), availability(learn, SHELL, JANE)) == (
        "Instructor",
        "Yes",
    )
    spent = calls_during(learn, before)
    assert spent[PUT] == 2 and spent["PATCH /v1/courses/{id}/users/{id}"] == 2, spent
    assert learn.sandbox.record.enrolments == []


def test_an_unknown_user_fails_the_row_after_copy_and_patch_then_only_enrolments_retry(
    tmp_path: Path,
) -> None:
    """A 404 user fails the row once copied and patched, named; fixing the cell re-enrols only."""
    learn = teaching_site()
    ledger = tmp_path / "l.sqlite"
    _, final = engine_run(learn, [new_row(JANE, "userName:nobody")], ledger, OPTIONS)
    failed = final[0]
    assert failed.state is State.FAILED and failed.error_kind is ErrorKind.ENROL_REFUSED
    assert "userName:nobody" in (failed.error or "") and JANE not in (failed.error or "")
    assert "User not found" in (failed.error or "")
    assert result_record(failed)["enrolled"] == "1 of 2"
    record = learn.sandbox.record
    assert record.copies_per_target() == {NEW: 1}
    [patch] = record.patches
    assert patch.copy_complete and patch.body["name"] == "Biology 101 (Spring 2027)"
    with Ledger(ledger) as opened:
        states = [t.to_state for t in opened.history(NEW)]
        assert states[-2:] == ["patched", "failed"], states

    before = Counter(record.calls)
    _, final = engine_run(learn, [new_row(JANE, f"{BOB}=Grader")], ledger, OPTIONS)
    assert final[0].state is State.DONE, final[0]
    assert result_record(final[0])["enrolled"] == "2 of 2"
    spent = calls_during(learn, before)
    assert spent[COPY] == spent[PATCH] == spent[POLL] == 0, spent
    assert spent[PUT] == 1, spent  # Bob only: Jane was enrolled already
    assert member_role(learn, NEW, BOB) == "Grader"
    assert record.copies_per_target() == {NEW: 1}
    assert early_or_lost(learn) == []


def test_a_system_administrator_fails_the_row_likewise(tmp_path: Path) -> None:
    """Learn's 403 for a system administrator fails the row after its copy and PATCH."""
    learn = teaching_site()
    _, final = engine_run(learn, [new_row(ROOT, JANE)], tmp_path / "l.sqlite", OPTIONS)
    failed = final[0]
    assert failed.state is State.FAILED and failed.error_kind is ErrorKind.ENROL_REFUSED
    assert f"{ROOT} as Instructor (403" in (failed.error or "")
    assert result_record(failed)["enrolled"] == "1 of 2"
    assert [p.copy_complete for p in learn.sandbox.record.patches] == [True]
    assert member_role(learn, NEW, ROOT) is None and member_role(learn, NEW, JANE) == "Instructor"


def test_a_shell_holding_content_is_not_copied_into_unless_allowed(tmp_path: Path) -> None:
    """A shell with content fails SHELL_NOT_EMPTY (its items counted), uncopied; allowed, it is."""
    learn = teaching_site()
    ledger = tmp_path / "l.sqlite"
    held = items_held(learn, FULL)
    assert 0 < held < counts(learn, FULL)[0]  # an empty folder is not counted
    _, final = engine_run(learn, [shell_row(FULL, JANE)], ledger, OPTIONS)
    refused = final[0]
    assert refused.state is State.FAILED and refused.error_kind is ErrorKind.SHELL_NOT_EMPTY
    assert f"already holds {held} content items" in (refused.error or "")
    # The flag that would copy into it anyway is never the error's first word on it.
    assert "--allow-nonempty-shell" not in (refused.error or "")
    assert "This ledger never copied into it: look at what it holds" in (refused.error or "")
    assert learn.sandbox.record.copies == [] and learn.sandbox.record.enrolments == []

    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        opened.retry_failed()
    allowed = replace(OPTIONS, allow_nonempty_shell=True)
    _, final = engine_run(learn, [shell_row(FULL, JANE)], ledger, allowed)
    assert final[0].state is State.DONE, final[0]
    assert learn.sandbox.record.copies_per_target() == {FULL: 1}
    assert member_role(learn, FULL, JANE) == "Instructor"


def test_an_empty_shell_is_copied_into(tmp_path: Path) -> None:
    """An SIS shell holding nothing is copied into once, and its instructor enrolled."""
    learn = teaching_site()
    _, final = engine_run(learn, [shell_row(SHELL, BOB)], tmp_path / "l.sqlite", OPTIONS)
    assert final[0].state is State.DONE, final[0]
    assert learn.sandbox.record.copies_per_target() == {SHELL: 1}
    assert member_role(learn, SHELL, BOB) == "Instructor"
    assert early_or_lost(learn) == []


def test_a_shell_this_tool_copied_into_is_not_looked_at_again(tmp_path: Path) -> None:
    """After --not-copied, a shell holding our own earlier copy is copied into without a check."""
    learn = teaching_site(partial_copy_rate=1.0)
    ledger = tmp_path / "l.sqlite"
    _, final = engine_run(learn, [shell_row(SHELL, JANE)], ledger, VERIFY)
    assert final[0].error_kind is ErrorKind.VERIFY_SHORT, final[0]
    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        opened.resolve(SHELL, Resolution.NOT_COPIED)
    learn.sandbox.config = replace(learn.sandbox.config, partial_copy_rate=0.0)
    sent = len(learn.transport.sent)
    _, final = engine_run(learn, [shell_row(SHELL, JANE)], ledger, VERIFY)
    assert final[0].state is State.DONE, final[0]
    second = [(method, path) for method, path, _ in learn.transport.sent[sent:]]
    post = next(i for i, (method, path) in enumerate(second) if path.endswith("/copy"))
    assert not [call for call in second[:post] if call[1].endswith(("/contents", "/columns"))]
    assert learn.sandbox.record.copies_per_target() == {SHELL: 2}  # a person asked for it


def test_verify_counts_each_source_once_and_keeps_the_counts(tmp_path: Path) -> None:
    """--verify: exact counts per row; each source counted once, never again on a later run."""
    learn = teaching_site()
    ledger = tmp_path / "l.sqlite"
    rows = [new_row(target=f"BIO-101-{n:03d}-SP27") for n in range(1, 4)] + [
        new_row(target="CHEM-110-001-SP27", source="CHEM-110-FA26")
    ]
    _, final = engine_run(learn, rows, ledger, VERIFY)
    bio, chem = counts(learn, "BIO-101-FA26"), counts(learn, "CHEM-110-FA26")
    assert bio[0] > 0 and chem[0] > 0 and chem[1] > 0
    for r in final:
        contents, columns = chem if r.source_course_id == "CHEM-110-FA26" else bio
        assert r.state is State.DONE, r
        assert r.verification == f"contents {contents}/{contents}; columns {columns}/{columns}"
        assert result_record(r)["verification"] == r.verification
    record = learn.sandbox.record
    assert record.calls[CONTENTS] == record.calls[COLUMNS] == 2 + 4  # two sources, four targets
    source_gets = Counter(
        path for method, path, _ in learn.transport.sent if "courseId:" in path and method == "GET"
    )
    assert all(n == 1 for n in source_gets.values()), source_gets

    before = Counter(record.calls)
    more = [*rows, new_row(target="BIO-101-004-SP27")]
    _, final = engine_run(learn, more, ledger, VERIFY)
    assert by_target(final)["BIO-101-004-SP27"].verification == (
        f"contents {bio[0]}/{bio[0]}; columns {bio[1]}/{bio[1]}"
    )
    spent = calls_during(learn, before)
    assert spent[CONTENTS] == spent[COLUMNS] == 1, spent  # the new target only


def test_a_partial_copy_needs_review_with_both_counts_and_is_patched(tmp_path: Path) -> None:
    """A copy that arrived short is needs_review VERIFY_SHORT naming both counts, yet patched."""
    learn = teaching_site(partial_copy_rate=1.0)
    row_ = new_row(JANE, target="CHEM-110-001-SP27", source="CHEM-110-FA26")
    _, final = engine_run(learn, [row_], tmp_path / "l.sqlite", VERIFY)
    contents, columns = counts(learn, "CHEM-110-FA26")
    arrived = counts(learn, "CHEM-110-001-SP27")[0]
    assert arrived < contents
    short = final[0]
    words = f"contents {arrived}/{contents}; columns {columns}/{columns}"
    assert short.state is State.NEEDS_REVIEW and short.error_kind is ErrorKind.VERIFY_SHORT
    assert short.verification == words and words in (short.error or "")
    assert [(p.course_id, p.copy_complete) for p in learn.sandbox.record.patches] == [
        ("CHEM-110-001-SP27", True)
    ]
    assert member_role(learn, "CHEM-110-001-SP27", JANE) == "Instructor"


def test_a_shell_copied_into_anyway_is_verified_against_source_and_what_it_held(
    tmp_path: Path,
) -> None:
    """With --allow-nonempty-shell, the count expected is the source's plus the shell's own."""
    learn = teaching_site()
    shell, source = counts(learn, FULL), counts(learn, "CHEM-110-FA26")
    options = replace(VERIFY, allow_nonempty_shell=True)
    _, final = engine_run(learn, [shell_row(FULL)], tmp_path / "l.sqlite", options)
    contents, columns = shell[0] + source[0], shell[1] + source[1]
    assert final[0].state is State.DONE, final[0]
    assert final[0].verification == f"contents {contents}/{contents}; columns {columns}/{columns}"
    assert (final[0].shell_contents, final[0].shell_columns) == shell


def test_a_row_resolved_copied_is_verified_unless_its_counts_were_accepted(
    tmp_path: Path,
) -> None:
    """--copied after a lost answer verifies as asked; --copied after a short count does not."""
    learn = teaching_site(drop_copy_response_rate=1.0)
    ledger = tmp_path / "l.sqlite"
    rows = [shell_row(SHELL, JANE)]
    _, final = engine_run(learn, rows, ledger, VERIFY)
    assert final[0].error_kind is ErrorKind.COPY_MAYBE_APPLIED, final[0]
    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        opened.resolve(SHELL, Resolution.COPIED)
    learn.clock.now += 600  # the person looked in Learn: the copy is long done
    _, final = engine_run(learn, rows, ledger, VERIFY)
    contents, columns = counts(learn, "CHEM-110-FA26")
    assert final[0].state is State.DONE, final[0]
    assert final[0].verification == f"contents {contents}/{contents}; columns {columns}/{columns}"
    assert member_role(learn, SHELL, JANE) == "Instructor"

    learn = teaching_site(partial_copy_rate=1.0)
    ledger = tmp_path / "short.sqlite"
    _, final = engine_run(learn, rows, ledger, VERIFY)
    assert final[0].error_kind is ErrorKind.VERIFY_SHORT, final[0]
    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        opened.resolve(SHELL, Resolution.COPIED)
    before = Counter(learn.sandbox.record.calls)
    _, final = engine_run(learn, rows, ledger, VERIFY)
    assert final[0].state is State.DONE, final[0]
    assert calls_during(learn, before)[CONTENTS] == 0


def test_an_unclean_copy_with_a_refused_user_goes_to_a_person_first(tmp_path: Path) -> None:
    """CompleteWithErrors plus a refused user is needs_review; a fixed cell alone cannot end it."""
    learn = teaching_site(complete_with_errors_rate=1.0)
    ledger = tmp_path / "l.sqlite"
    _, final = engine_run(learn, [new_row(JANE, "userName:nobody")], ledger, OPTIONS)
    review = final[0]
    assert review.state is State.NEEDS_REVIEW and review.error_kind is ErrorKind.COPY_UNCLEAN
    assert "CompleteWithErrors" in (review.error or "")
    assert "userName:nobody" in (review.error or "")

    fixed = [new_row(JANE, BOB)]
    _, final = engine_run(learn, fixed, ledger, OPTIONS)
    assert final[0].state is State.NEEDS_REVIEW, final[0]
    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        opened.resolve(NEW, Resolution.COPIED)
    _, final = engine_run(learn, fixed, ledger, OPTIONS)
    assert final[0].state is State.DONE, final[0]
    assert member_role(learn, NEW, BOB) == "Instructor"
    assert learn.sandbox.record.copies_per_target() == {NEW: 1}


def test_a_copy_requested_again_enrols_again(tmp_path: Path) -> None:
    """--not-copied after the course was deleted: the new copy gets its instructors too."""
    learn = teaching_site(partial_copy_rate=1.0)
    ledger = tmp_path / "l.sqlite"
    rows = [new_row(JANE, f"{BOB}=TeachingAssistant")]
    _, final = engine_run(learn, rows, ledger, VERIFY)
    assert final[0].error_kind is ErrorKind.VERIFY_SHORT, final[0]
    delete_course(learn, NEW)
    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        opened.resolve(NEW, Resolution.NOT_COPIED)
    learn.sandbox.config = replace(learn.sandbox.config, partial_copy_rate=0.0)
    _, final = engine_run(learn, rows, ledger, VERIFY)
    assert final[0].state is State.DONE, final[0]
    assert member_role(learn, NEW, JANE) == "Instructor"
    assert member_role(learn, NEW, BOB) == "TeachingAssistant"
    assert early_or_lost(learn) == []
    with Ledger(ledger) as opened:
        assert {e.state for e in opened.enrolments(NEW)} == {EnrolmentState.DONE}
