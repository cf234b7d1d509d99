"""Adopted copies are proven, not assumed: a row whose copy answer was lost is `done` only once
Learn, read back after the copy can no longer be writing, shows the row's values and its
enrolments; otherwise it is `needs_review`, saying what was found.

Learn's copy queue here has one slot and copies longer than `--adopt-settle`, so an adopted
copy is often still queued or running when its settle ends: its PATCH and its enrolments would
be overwritten and lost if the tool patched, enrolled and called the row done then.
"""

from __future__ import annotations

import random
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import (
    TEACHERS,
    Learn,
    early_or_lost,
    engine_run,
    instructors,
    make_learn,
    row,
    sections,
)

from rollover.engine import RunOptions
from rollover.learn import learn_datetime
from rollover.ledger import ErrorKind, Ledger, LedgerRow, Proof, State
from rollover.manifest import ManifestRow
from rollover.sandbox import SeedCourse

JANE, BOB = "userName:jane.doe", "userName:bob"
SEEDS = range(12)


def adopted_rows(count: int = 4) -> list[ManifestRow]:
    """New-course rows renamed, termed, dated, made available, each with two instructors."""
    return sections(
        count,
        term_id="SP27",
        available="Yes",
        start_date=datetime(2027, 1, 11, 6, tzinfo=UTC),
        end_date=datetime(2027, 5, 7, 6, tzinfo=UTC),
        instructors=instructors(JANE, f"{BOB}=TeachingAssistant"),
    )


def one_slot_site(seed: int, **config: Any) -> Learn:
    """One copy slot, lognormal copies, every copy answer lost."""
    config.setdefault("copy_seconds", 300.0)
    config.setdefault("copy_sigma", 0.6)
    return make_learn(
        users=TEACHERS,
        slots=1,
        copy_max_seconds=1500.0,
        drop_copy_response_rate=1.0,
        seed=seed,
        **config,
    )


def what_learn_shows(learn: Learn, ledger_row: LedgerRow) -> list[str]:
    """How the course in Learn now differs from what the row asks (empty: it holds them all)."""
    course = learn.sandbox.course(f"courseId:{ledger_row.target_course_id}")
    assert course is not None
    wrong: list[str] = []
    patch = dict(ledger_row.spec.patch)
    term = learn.sandbox.catalog.find_term(patch["termId"])
    assert term is not None
    if course.data.get("name") != patch["name"]:
        wrong.append(f"name {course.data.get('name')!r}")
    if course.data.get("termId") != term["id"]:
        wrong.append(f"termId {course.data.get('termId')!r}")
    availability = course.data.get("availability") or {}
    if availability.get("available") != patch["availability"]["available"]:
        wrong.append(f"available {availability.get('available')!r}")
    duration = availability.get("duration") or {}
    for end in ("start", "end"):
        sent = learn_datetime(patch["availability"]["duration"][end])
        if learn_datetime(duration.get(end)) != sent:
            wrong.append(f"{end} {duration.get(end)!r}")
    for enrolment in ledger_row.spec.instructors:
        member = learn.sandbox.membership(course.primary_id, enrolment.user_id)
        if member is None or member["courseRoleId"] != enrolment.role:
            wrong.append(f"{enrolment.user_id} {member and member['courseRoleId']}")
    return wrong


def once_every_copy_has_ended(learn: Learn) -> None:
    """Move Learn's time past the end of every copy it was asked for, and let it apply them."""
    learn.clock.now = max(task.end for task in learn.sandbox.queue.tasks.values()) + 1.0
    learn.sandbox.content_count("courseId:BIO-101-FA26")  # Learn applies the copies ended


def assert_proven_or_reviewed(learn: Learn, final: list[LedgerRow]) -> None:
    """Every row copied once; `done` only with Learn showing its values and its instructors
    once every copy has ended, else `needs_review` with an error that says what was found."""
    once_every_copy_has_ended(learn)
    copies = learn.sandbox.record.copies_per_target()
    for ledger_row in final:
        target = ledger_row.target_course_id
        assert copies.get(target) == 1, (target, copies)
        assert ledger_row.state in (State.DONE, State.NEEDS_REVIEW), ledger_row
        if ledger_row.state is State.DONE:
            assert what_learn_shows(learn, ledger_row) == [], ledger_row
            assert ledger_row.enrolled == len(ledger_row.spec.instructors), ledger_row
        else:
            assert ledger_row.error and "found" in ledger_row.error, ledger_row


@pytest.mark.parametrize("seed", SEEDS)
def test_adopted_rows_are_done_only_with_their_values_and_enrolments_in_learn(
    tmp_path: Path, seed: int
) -> None:
    """One slot, copies longer than the settle, every answer lost: each row ends done with its
    values and instructors verified in Learn's final state, or needs_review saying why."""
    draw = random.Random(seed)
    learn = one_slot_site(seed, copy_seconds=draw.choice((120.0, 300.0, 600.0)))
    options = RunOptions(
        poll_min=5.0,
        poll_max=60.0,
        adopt_settle=draw.choice((30.0, 90.0, 240.0)),
        task_timeout=6 * 3600.0,
    )
    outcome, final = engine_run(learn, adopted_rows(), tmp_path / "l.sqlite", options)
    assert outcome.fatal is None and outcome.parked == [], outcome
    assert all(r.adopted for r in final)
    assert_proven_or_reviewed(learn, final)
    # The copies all end well within the task timeout here: every row is proven done.
    assert [r.state for r in final] == [State.DONE] * len(final), [r.error for r in final]


def test_an_adopted_copy_that_never_holds_its_source_content_needs_review(tmp_path: Path) -> None:
    """Copies that arrive short never reach the source's content count: within --task-timeout
    the rows are needs_review with the counts found, unpatched and nobody enrolled."""
    learn = one_slot_site(1, copy_seconds=60.0, partial_copy_rate=1.0)
    options = RunOptions(poll_min=5.0, poll_max=60.0, adopt_settle=30.0, task_timeout=900.0)
    outcome, final = engine_run(learn, adopted_rows(2), tmp_path / "l.sqlite", options)
    assert outcome.fatal is None
    assert [r.state for r in final] == [State.NEEDS_REVIEW] * 2
    for ledger_row in final:
        assert ledger_row.error_kind is ErrorKind.ADOPTION_UNPROVEN
        assert "did not reach the source's within --task-timeout" in (ledger_row.error or "")
        assert re.search(r"found contents (\d+)/(\d+)", ledger_row.error or ""), ledger_row.error
    assert learn.sandbox.record.enrolments == [] and learn.sandbox.record.patches == []
    assert_proven_or_reviewed(learn, final)


def test_an_adopted_copy_of_an_empty_source_needs_review(tmp_path: Path) -> None:
    """A source without content cannot show when its copy ended: needs_review saying so, with
    nobody enrolled."""
    learn = one_slot_site(2, courses=[SeedCourse("EMPTY-FA26", "Empty", contents=0, columns=0)])
    rows = sections(1, source="EMPTY-FA26", instructors=instructors(JANE))
    _, [final] = engine_run(learn, rows, tmp_path / "l.sqlite", RunOptions(adopt_settle=30.0))
    assert final.state is State.NEEDS_REVIEW and final.error_kind is ErrorKind.ADOPTION_UNPROVEN
    assert "EMPTY-FA26 holds no content" in (final.error or "") and final.enrolled == 0
    assert learn.sandbox.record.enrolments == []


def overwrite_at_read_back(learn: Learn, times: int) -> None:
    """At the first `times` read-backs of a course, the course shows its source's name again
    and has lost jane.doe, as if its copy had written its settings after its content."""
    left = [times]

    def overwrite(request: httpx.Request) -> None:
        if request.method != "GET" or "fields=" not in str(request.url):
            return
        if "/v3/courses/_" not in request.url.path or "name" not in request.url.params["fields"]:
            return
        if left[0] <= 0:
            return
        left[0] -= 1
        course = learn.sandbox.course(request.url.path.rsplit("/", 1)[-1])
        assert course is not None
        course.data["name"] = "Biology 101 (Fall 2026)"
        jane = learn.sandbox.teaching.find_user(JANE)
        assert jane is not None
        learn.sandbox.teaching.holdings(course.primary_id).members.pop(jane["id"], None)

    learn.transport.before = overwrite


def test_what_a_read_back_finds_overwritten_is_written_again_and_read_back(
    tmp_path: Path,
) -> None:
    """A read-back that finds the name and an instructor gone PATCHes and enrols again, and
    reads back a settle later: the row is done only once Learn holds them."""
    learn = one_slot_site(3, copy_seconds=60.0)
    overwrite_at_read_back(learn, times=1)
    options = RunOptions(poll_min=5.0, poll_max=60.0, adopt_settle=30.0)
    ledger_path = tmp_path / "l.sqlite"
    _, [final] = engine_run(learn, adopted_rows(1), ledger_path, options)
    assert final.state is State.DONE, final
    assert_proven_or_reviewed(learn, [final])
    with Ledger(ledger_path) as ledger:
        details = [step.detail or "" for step in ledger.history(final.target_course_id)]
    [found] = [d for d in details if d.startswith("read back, found")]
    assert "name 'Biology 101 (Fall 2026)' instead of 'Biology 101 section 000'" in found
    assert f"{JANE} not enrolled" in found and "written again" in found
    assert len(learn.sandbox.record.patches) == 2


def test_a_course_still_overwritten_at_the_task_timeout_needs_review_naming_it(
    tmp_path: Path,
) -> None:
    """A course found overwritten at every read-back until --task-timeout is written again
    and handed to a person, the error naming what was found."""
    learn = one_slot_site(4, copy_seconds=60.0)
    overwrite_at_read_back(learn, times=100)
    options = RunOptions(poll_min=5.0, poll_max=60.0, adopt_settle=30.0, task_timeout=600.0)
    _, [final] = engine_run(learn, adopted_rows(1), tmp_path / "l.sqlite", options)
    assert final.state is State.NEEDS_REVIEW and final.error_kind is ErrorKind.ADOPTION_UNPROVEN
    assert "found name 'Biology 101 (Fall 2026)'" in (final.error or "")
    assert f"{JANE} not enrolled" in (final.error or "")


def test_an_adopted_row_patched_by_schema_2_is_enrolled_only_once_counted(
    tmp_path: Path,
) -> None:
    """A row an older rollover adopted and patched, copy still queued: its proof is due, so
    nobody is enrolled before its course holds the source's content; then it is proven done."""
    learn = one_slot_site(5, copy_seconds=400.0)
    ledger_path = tmp_path / "l.sqlite"
    rows = adopted_rows(3)
    options = RunOptions(poll_min=5.0, poll_max=60.0, adopt_settle=30.0)
    last = rows[-1].target_course_id
    engine_run(learn, rows, ledger_path, options, stop_after=9)  # each row adopted, settling
    with Ledger(ledger_path) as ledger:
        assert ledger.row(last).state is State.COPIED and ledger.row(last).proof is Proof.DUE
    with sqlite3.connect(ledger_path) as db:  # as schema 2 left it once it had patched it
        db.execute("UPDATE rows SET state = 'patched' WHERE target_course_id = ?", (last,))
    outcome, final = engine_run(learn, rows, ledger_path, options)
    assert outcome.fatal is None
    assert early_or_lost(learn) == [], learn.sandbox.record.enrolments
    assert_proven_or_reviewed(learn, final)
    assert [r.state for r in final] == [State.DONE] * 3


def test_an_adopted_row_with_nothing_to_patch_is_proven_by_its_instructors(
    tmp_path: Path,
) -> None:
    """A row asking only for instructors (no PATCH) is enrolled once counted, read back a
    settle later and done, its instructors in Learn once every copy has ended."""
    learn = one_slot_site(7, copy_seconds=200.0)
    rows = [
        row(2 + i, "BIO-101-FA26", f"BIO-101-{i:03d}-SP27", instructors=instructors(JANE))
        for i in range(2)
    ]
    options = RunOptions(poll_min=5.0, poll_max=60.0, adopt_settle=30.0)
    _, final = engine_run(learn, rows, tmp_path / "l.sqlite", options)
    assert [(r.state, r.proof) for r in final] == [(State.DONE, Proof.PROVEN)] * 2
    assert learn.sandbox.record.patches == []
    once_every_copy_has_ended(learn)
    for ledger_row in final:
        member = learn.sandbox.membership(f"courseId:{ledger_row.target_course_id}", JANE)
        assert member is not None and member["courseRoleId"] == "Instructor"
