"""Merged sections in a run: a row's children are attached to its course after the copy has
completed and the course is patched, before its instructors are enrolled; each attachment is
committed before and after; a refused one fails the row, naming the child and what to do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from harness import (
    TEACHERS,
    Learn,
    delete_parent_course,
    engine_run,
    instructors,
    make_learn,
    row,
)

from rollover.engine import RunOptions
from rollover.ledger import AttachmentState, ErrorKind, Ledger, LedgerRow, Resolution, State
from rollover.manifest import ManifestRow
from rollover.sandbox import SeedCourse

OPTIONS = RunOptions(poll_min=2.0, poll_max=10.0, adopt_settle=60.0)
PARENT, SOURCE = "BIO-101-SP27", "BIO-101-FA26"
SEC1, SEC2 = "BIO-101-001-SP27", "BIO-101-002-SP27"
OTHERS, OTHER_CHILD, A_PARENT, ITS_CHILD = "ENG-1-SP27", "ENG-1-001-SP27", "MATH-SP27", "MATH-1"
JANE = "userName:jane.doe"
SECTIONS = [
    SeedCourse(SEC1, "Biology 101 section 001", shell=True),
    SeedCourse(SEC2, "Biology 101 section 002", shell=True),
    SeedCourse(OTHERS, "English 1", shell=True),
    SeedCourse(OTHER_CHILD, "English 1 section 001", shell=True, parent=OTHERS),
    SeedCourse(A_PARENT, "Math", shell=True),
    SeedCourse(ITS_CHILD, "Math section", shell=True, parent=A_PARENT),
]


def merged_site(**config: Any) -> Learn:
    """Copies long enough to pass 15% while polled; sections to merge, some merged already."""
    return make_learn(copy_seconds=40.0, users=TEACHERS, courses=SECTIONS, **config)


def parent_row(*children: str, **fields: Any) -> ManifestRow:
    """The merged set's parent: a new course from BIO-101-FA26, its sections, one instructor."""
    fields.setdefault("instructors", instructors(JANE))
    return row(2, SOURCE, PARENT, name="Biology 101 (Spring 2027)", children=children, **fields)


def attachment_states(ledger_path: Path) -> dict[str, AttachmentState]:
    """Each listed child of the parent row and where its attachment is."""
    with Ledger(ledger_path) as ledger:
        return {a.child_ref: a.state for a in ledger.attachments(PARENT)}


def assert_merged_in_order(learn: Learn, final: LedgerRow, children: tuple[str, ...]) -> None:
    """Each child attached once to the row's course, after its copy completed and its PATCH,
    and every instructor enrolled after the last attachment, never during the copy."""
    log = [a for a in learn.sandbox.attach_log() if a.parent_primary_id == final.course_pk]
    assert sorted(a.child_course_id for a in log) == sorted(children)
    assert all(a.copy_complete and a.ignore_enrollment_errors for a in log), log
    patched = [p for p in learn.sandbox.record.patches if p.course_id == PARENT]
    assert len(patched) == 1
    enrolled = [e for e in learn.sandbox.record.enrolments if e.course_id == PARENT]
    assert enrolled and all(e.percent is None for e in enrolled), enrolled
    assert max(a.at for a in log) <= min(e.at for e in enrolled)
    assert [c.course_id for c in learn.sandbox.children_of(f"courseId:{PARENT}")] == list(children)


def test_children_are_attached_after_the_copy_and_patch_and_before_the_instructors(
    tmp_path: Path,
) -> None:
    """A parent row is copied, patched, its sections attached, then its instructor enrolled."""
    learn = merged_site()
    outcome, (final,) = engine_run(learn, [parent_row(SEC1, SEC2)], tmp_path / "l.sqlite", OPTIONS)
    assert outcome.fatal is None
    assert final.state is State.DONE, final.error
    assert final.children_attached == 2 and final.enrolled == 1
    assert_merged_in_order(learn, final, (SEC1, SEC2))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        pks = {a.child_ref: a.child_pk for a in ledger.attachments(PARENT)}
    for child in (SEC1, SEC2):
        course = learn.sandbox.course(f"courseId:{child}")
        assert course is not None and pks[child] == course.primary_id


def test_a_rerun_of_a_merged_row_makes_no_call(tmp_path: Path) -> None:
    """Once every child is attached, running the same manifest again sends nothing."""
    learn = merged_site()
    engine_run(learn, [parent_row(SEC1, SEC2)], tmp_path / "l.sqlite", OPTIONS)
    sent = len(learn.transport.sent)
    _, (final,) = engine_run(learn, [parent_row(SEC1, SEC2)], tmp_path / "l.sqlite", OPTIONS)
    assert final.state is State.DONE
    assert len(learn.transport.sent) == sent


def test_a_lost_attach_answer_is_sent_again_and_counts_once(tmp_path: Path) -> None:
    """Learn attached the child but its answer was lost: the PUT is sent again, Learn says the
    child is this parent's already, and it counts as attached, once."""
    learn = merged_site(drop_attach_responses=[1])
    _, (final,) = engine_run(learn, [parent_row(SEC1, SEC2)], tmp_path / "l.sqlite", OPTIONS)
    assert final.state is State.DONE, final.error
    assert learn.sandbox.record.faults["dropped_attach_response"] == 1
    assert_merged_in_order(learn, final, (SEC1, SEC2))


def test_a_child_of_another_parent_fails_the_row_after_the_copy_and_patch(
    tmp_path: Path,
) -> None:
    """A section already merged elsewhere fails the row, naming it and what to do; the other
    section is attached and the instructor enrolled all the same."""
    learn = merged_site()
    _, (final,) = engine_run(learn, [parent_row(SEC1, OTHER_CHILD)], tmp_path / "l.sqlite", OPTIONS)
    assert final.state is State.FAILED and final.error_kind is ErrorKind.CHILD_REFUSED
    error = final.error or ""
    assert f"copied and patched as {final.course_pk}" in error
    assert f"{OTHER_CHILD} is already a section of another course, {OTHERS} (" in error
    assert "in Learn first" in error and "child_course_ids" in error
    assert "only the attachments are retried" in error
    assert attachment_states(tmp_path / "l.sqlite") == {
        SEC1: AttachmentState.ATTACHED,
        OTHER_CHILD: AttachmentState.FAILED,
    }
    assert final.enrolled == 1
    parent = learn.sandbox.parent_of(f"courseId:{OTHER_CHILD}")
    assert parent is not None and parent.course_id == OTHERS


def test_fixing_the_cell_retries_only_the_attachments(tmp_path: Path) -> None:
    """After a refused child, a manifest naming another section instead attaches it: no second
    copy, no second PATCH, no enrolment sent again."""
    learn = merged_site()
    ledger_path = tmp_path / "l.sqlite"
    engine_run(learn, [parent_row(SEC1, OTHER_CHILD)], ledger_path, OPTIONS)
    sent = len(learn.transport.sent)
    _, (final,) = engine_run(learn, [parent_row(SEC1, SEC2)], ledger_path, OPTIONS)
    assert final.state is State.DONE, final.error
    again = learn.transport.sent[sent:]
    assert [method for method, _, _ in again if method != "POST"] == ["PUT"]
    assert again[-1][1].endswith(f"/children/courseId:{SEC2}")
    assert learn.sandbox.record.copies_per_target() == {PARENT: 1}
    assert attachment_states(ledger_path) == {
        SEC1: AttachmentState.ATTACHED,
        SEC2: AttachmentState.ATTACHED,
    }


def test_a_parent_named_as_a_child_and_a_missing_child_fail_with_the_next_step(
    tmp_path: Path,
) -> None:
    """A section that is itself a parent, and one Learn does not have, are each named with why
    and what to do, in one message."""
    learn = merged_site()
    _, (final,) = engine_run(
        learn, [parent_row(A_PARENT, "NO-SUCH-SP27")], tmp_path / "l.sqlite", OPTIONS
    )
    assert final.state is State.FAILED and final.error_kind is ErrorKind.CHILD_REFUSED
    error = final.error or ""
    assert f"{A_PARENT} is itself a parent of merged courses" in error
    assert "NO-SUCH-SP27 was not found in Learn" in error
    assert learn.sandbox.children_of(f"courseId:{PARENT}") == []


def test_refused_attachments_and_enrolments_are_told_in_one_message(tmp_path: Path) -> None:
    """A refused child and a refused instructor fail the row once, naming both and both cells."""
    learn = merged_site()
    rows = [parent_row(OTHER_CHILD, instructors=instructors(JANE, "userName:root"))]
    _, (final,) = engine_run(learn, rows, tmp_path / "l.sqlite", OPTIONS)
    assert final.state is State.FAILED and final.error_kind is ErrorKind.CHILD_REFUSED
    error = final.error or ""
    assert f"Learn refused to attach {OTHER_CHILD}" in error
    assert "; also, Learn refused to enrol userName:root" in error
    assert "Fix the child_course_ids and instructors cell" in error
    assert "only the attachments and enrolments are retried" in error


def test_a_shell_parent_gets_its_children_after_its_copy(tmp_path: Path) -> None:
    """A copy into an existing shell attaches the sections to that shell once copied."""
    learn = merged_site()
    shell_row = replace(
        row(2, SOURCE, "HIST-210-SP27", copy_into_existing=True, children=(SEC1,)),
        instructors=instructors(JANE),
    )
    _, (final,) = engine_run(learn, [shell_row], tmp_path / "l.sqlite", OPTIONS)
    assert final.state is State.DONE, final.error
    parent = learn.sandbox.parent_of(f"courseId:{SEC1}")
    assert parent is not None and parent.course_id == "HIST-210-SP27"
    assert all(a.copy_complete for a in learn.sandbox.attach_log())


def test_resolved_not_copied_attaches_the_sections_to_the_new_copy(tmp_path: Path) -> None:
    """A row a person resolves --not-copied (its course deleted in Learn) is copied again, and
    its sections are attached to the new course, not left with the one that was deleted."""
    learn = merged_site(complete_with_errors_rate=1.0)
    ledger_path = tmp_path / "l.sqlite"
    _, (first,) = engine_run(learn, [parent_row(SEC1, SEC2)], ledger_path, OPTIONS)
    assert first.state is State.NEEDS_REVIEW and first.children_attached == 2, first
    delete_parent_course(learn, PARENT)
    with Ledger(ledger_path) as ledger:
        ledger.resolve(PARENT, Resolution.NOT_COPIED)
    learn.sandbox.config = replace(learn.sandbox.config, complete_with_errors_rate=0.0)
    _, (final,) = engine_run(learn, [parent_row(SEC1, SEC2)], ledger_path, OPTIONS)
    assert final.state is State.DONE, final.error
    assert final.course_pk != first.course_pk and final.children_attached == 2
    for child in (SEC1, SEC2):
        parent = learn.sandbox.parent_of(f"courseId:{child}")
        assert parent is not None and parent.primary_id == final.course_pk, child


def test_a_merge_learn_forbids_stops_the_run_once_and_fails_no_row(tmp_path: Path) -> None:
    """403 to the attach (the integration user may not cross-list, for any course): the row
    keeps its copy and PATCH, no other copy starts, the run stops naming the entitlement; once
    granted, the re-run attaches the sections, each copy made once."""
    learn = merged_site(missing_entitlements=["system.course.cross-list.VIEW"])
    ledger_path = tmp_path / "l.sqlite"
    rows = [parent_row(SEC1), replace(parent_row(SEC2), line=3, target_course_id="BIO-101-B")]
    outcome, final = engine_run(learn, rows, ledger_path, replace(OPTIONS, concurrency=1))
    assert outcome.stopped is not None and "system.course.cross-list.VIEW" in outcome.stopped
    assert "grant it to that user and run the same command again" in outcome.stopped
    assert [r.state for r in final] == [State.PATCHED, State.PENDING]
    assert not learn.sandbox.attach_log()

    learn.sandbox.config = replace(learn.sandbox.config, missing_entitlements=[])
    outcome, final = engine_run(learn, rows, ledger_path, OPTIONS)
    assert outcome.stopped is None and [r.state for r in final] == [State.DONE] * 2
    assert learn.sandbox.record.copies_per_target() == {r.target_course_id: 1 for r in rows}
    assert [r.children_attached for r in final] == [1, 1]


def test_a_shell_that_is_a_merged_section_is_not_copied_into(tmp_path: Path) -> None:
    """copy_into_existing into a course already merged under another (its parentId set), run
    without the preflight: nothing is copied into it (Learn manages its content from the
    parent); the row fails naming the parent and the fix, and its advice says what to do."""
    learn = merged_site()
    into_section = row(2, SOURCE, OTHER_CHILD, copy_into_existing=True, name="Section")
    _, (final,) = engine_run(learn, [into_section], tmp_path / "l.sqlite", OPTIONS)
    parent = learn.sandbox.course(f"courseId:{OTHERS}")
    assert parent is not None
    assert final.state is State.FAILED and final.error_kind is ErrorKind.SHELL_MERGED
    assert f"merged into another course ({parent.primary_id})" in (final.error or "")
    assert "copy into the parent instead" in (final.error or "")
    assert learn.sandbox.record.copies_per_target() == {}
    assert ErrorKind.SHELL_MERGED.words.startswith("the course to copy into is a section")
