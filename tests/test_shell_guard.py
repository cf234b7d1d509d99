"""The shell guard after a flip: no content is copied into a shell that holds content unless the
run says so, whatever the row did before; a shell holding the row's own copy is never refused by
it. The run and the preflight ask the ledger's one rule, `shell_must_be_empty`, from the fact the
ledger records (`copied_into`), never from "an earlier attempt".
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from harness import Learn, engine_run, make_learn, row

from rollover.engine import RunOptions
from rollover.ledger import ErrorKind, Ledger, LedgerRow, Resolution, State, shell_must_be_empty
from rollover.manifest import ManifestRow
from rollover.preflight import PreflightReport, check_learn
from rollover.sandbox import FOLDER, SeedCourse

OPTIONS = RunOptions(poll_min=1.0, poll_max=60.0, adopt_settle=60.0)
ALLOWED = replace(OPTIONS, allow_nonempty_shell=True)
SOURCE = "CHEM-110-FA26"
FULL = "FULL-SP27"  # an SIS shell the SIS filled with content
EMPTY = "HIST-210-SP27"  # an empty SIS shell (harness)
SCHEMA_1 = Path(__file__).resolve().parent / "ledgers" / "schema1.ledger.sqlite"


def site(**config: object) -> Learn:
    """The harness site with a shell that already holds content."""
    config.setdefault("copy_seconds", 30.0)
    return make_learn(
        courses=[SeedCourse(FULL, "A shell the SIS filled", term_id="SP27", shell=True)],
        shells_with_content=[FULL],
        **config,
    )


def contents(learn: Learn, course_id: str) -> int:
    """Content items (all levels) a course holds now."""
    return learn.sandbox.content_count(f"courseId:{course_id}")


def items_held(learn: Learn, course_id: str) -> int:
    """The content items a course holds, empty folders aside (what the guard counts)."""
    items = learn.sandbox.teaching.view(pk(learn, course_id)).content_items(None, recursive=True)
    return sum(1 for item in items if item["hasChildren"] or item["contentHandler"]["id"] != FOLDER)


def pk(learn: Learn, course_id: str) -> str:
    """The primary id the sandbox gave a course."""
    course = learn.sandbox.course(f"courseId:{course_id}")
    assert course is not None
    return course.primary_id


def preflight(learn: Learn, rows: Sequence[ManifestRow], ledger: Path) -> PreflightReport:
    """`validate --check-learn` of `rows` against the ledger at `ledger`."""

    async def go() -> PreflightReport:
        with Ledger(ledger) as opened:
            known = opened.rows(in_manifest_only=False)
        async with learn.client() as client:
            return await check_learn(rows, known, client)

    return asyncio.run(go())


def shell_problems(report: PreflightReport) -> list[str]:
    """The preflight's problems about a shell's content."""
    return [str(p) for p in report.problems if "the shell already holds" in p.message]


def test_a_new_course_row_flipped_to_a_full_shell_is_not_copied_into(tmp_path: Path) -> None:
    """target_taken, then copy_into_existing=true: the re-run fails `shell not empty` and leaves
    the shell as it was (the preflight says so too); with --allow-nonempty-shell, one copy."""
    learn = site()
    ledger = tmp_path / "l.sqlite"
    new = row(2, SOURCE, FULL, name="Chemistry 110 (Spring 2027)")
    _, final = engine_run(learn, [new], ledger, OPTIONS)
    assert final[0].error_kind is ErrorKind.TARGET_TAKEN and final[0].attempts == 1, final[0]
    held, items = contents(learn, FULL), items_held(learn, FULL)
    assert items > 0

    flipped = replace(new, copy_into_existing=True)  # the registrar's edit
    assert shell_problems(preflight(learn, [flipped], ledger)) == [
        f"line 2, target_course_id '{FULL}': the shell already holds {items} content items "
        "(empty folders aside) and a copy would be added to them: empty it in Learn, or run "
        "with --allow-nonempty-shell"
    ]
    _, final = engine_run(learn, [flipped], ledger, OPTIONS)
    refused = final[0]
    assert refused.state is State.FAILED and refused.error_kind is ErrorKind.SHELL_NOT_EMPTY
    assert f"{FULL} already holds {items} content items" in (refused.error or "")
    assert contents(learn, FULL) == held
    assert learn.sandbox.record.copies == []

    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        opened.retry_failed()
    _, final = engine_run(learn, [flipped], ledger, ALLOWED)
    assert final[0].state is State.DONE, final[0]
    assert learn.sandbox.record.copies_per_target() == {FULL: 1}
    assert contents(learn, FULL) == held + contents(learn, SOURCE)


def test_a_shell_filled_after_a_refused_copy_is_looked_at_again(tmp_path: Path) -> None:
    """A copy into a shell that Learn refused (unknown source) applied nothing: when the source
    is fixed, the shell is looked at again, and content added meanwhile stops the copy."""
    learn = site()
    ledger = tmp_path / "l.sqlite"
    wrong = row(3, "CHEM-999-FA26", EMPTY, copy_into_existing=True)
    _, final = engine_run(learn, [wrong], ledger, OPTIONS)
    assert final[0].error_kind is ErrorKind.COPY_REFUSED, final[0]
    assert final[0].target_pk == pk(learn, EMPTY) and final[0].copied_into is None
    learn.sandbox.teaching.seed_course(pk(learn, EMPTY), EMPTY, 5, 0)  # the SIS filled it

    fixed = replace(wrong, source_course_id=SOURCE)
    _, final = engine_run(learn, [fixed], ledger, OPTIONS)
    assert final[0].error_kind is ErrorKind.SHELL_NOT_EMPTY, final[0]
    assert learn.sandbox.record.copies == []


def test_a_lost_answer_resolved_not_copied_looks_at_the_shell_first(tmp_path: Path) -> None:
    """A copy whose answer was lost is not known to be in the shell: after --not-copied, a
    shell that holds content anyway (here the lost copy itself) is refused, not doubled."""
    learn = site(drop_copy_response_rate=1.0)
    ledger = tmp_path / "l.sqlite"
    shell_row = row(3, SOURCE, EMPTY, copy_into_existing=True)
    _, final = engine_run(learn, [shell_row], ledger, OPTIONS)
    assert final[0].error_kind is ErrorKind.COPY_MAYBE_APPLIED, final[0]
    assert final[0].copied_into is None
    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        opened.resolve(EMPTY, Resolution.NOT_COPIED)
    learn.clock.now += 600
    landed = contents(learn, EMPTY)
    assert landed == contents(learn, SOURCE)

    learn.sandbox.config = replace(learn.sandbox.config, drop_copy_response_rate=0.0)
    _, final = engine_run(learn, [shell_row], ledger, OPTIONS)
    assert final[0].error_kind is ErrorKind.SHELL_NOT_EMPTY, final[0]
    assert contents(learn, EMPTY) == landed
    assert learn.sandbox.record.copies_per_target() == {EMPTY: 1}


def test_a_shell_holding_the_rows_own_copy_is_never_refused_by_it(tmp_path: Path) -> None:
    """The other direction: a lost answer resolved --copied finishes; a copy Learn took and a
    person asked again for (--not-copied) is copied again; neither run nor preflight refuses."""
    learn = site(drop_copy_response_rate=1.0)
    ledger = tmp_path / "l.sqlite"
    shell_row = row(3, SOURCE, EMPTY, copy_into_existing=True, name="History 210")
    _, final = engine_run(learn, [shell_row], ledger, OPTIONS)
    assert final[0].error_kind is ErrorKind.COPY_MAYBE_APPLIED, final[0]
    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        resolved = opened.resolve(EMPTY, Resolution.COPIED)
    assert resolved.copied_into == pk(learn, EMPTY)
    learn.clock.now += 600
    assert shell_problems(preflight(learn, [shell_row], ledger)) == []
    _, final = engine_run(learn, [shell_row], ledger, OPTIONS)
    assert final[0].state is State.DONE, final[0]

    learn = site(partial_copy_rate=1.0)
    ledger = tmp_path / "again.sqlite"
    verify = replace(OPTIONS, verify=True)
    _, final = engine_run(learn, [shell_row], ledger, verify)
    assert final[0].error_kind is ErrorKind.VERIFY_SHORT, final[0]
    assert final[0].copied_into == pk(learn, EMPTY) and contents(learn, EMPTY) > 0
    with Ledger(ledger, clock=learn.clock.datetime) as opened:
        opened.resolve(EMPTY, Resolution.NOT_COPIED)
    report = preflight(learn, [shell_row], ledger)
    assert shell_problems(report) == [] and report.shells_counted == 0
    learn.sandbox.config = replace(learn.sandbox.config, partial_copy_rate=0.0)
    _, final = engine_run(learn, [shell_row], ledger, verify)
    assert final[0].state is State.DONE, final[0]
    assert learn.sandbox.record.copies_per_target() == {EMPTY: 2}  # a person asked for it


def test_the_rule_reads_the_recorded_shell_not_the_attempts(tmp_path: Path) -> None:
    """`shell_must_be_empty`: a new row, or one with attempts but no copy recorded in that
    shell, must find it empty; one whose own copy is in that very shell need not."""
    learn = site()
    ledger = tmp_path / "l.sqlite"
    _, final = engine_run(learn, [row(2, SOURCE, FULL)], ledger, OPTIONS)
    flipped: LedgerRow = final[0]
    assert flipped.attempts == 1 and flipped.copied_into is None
    assert shell_must_be_empty(None, "_1_1")
    assert shell_must_be_empty(flipped, pk(learn, FULL))
    ours = replace(flipped, copied_into=pk(learn, FULL))
    assert not shell_must_be_empty(ours, pk(learn, FULL))
    assert shell_must_be_empty(ours, "_999_1")  # another course under that courseId now


def test_an_old_ledger_records_a_shell_copy_only_where_it_shows(tmp_path: Path) -> None:
    """Migrating: a shell row that reached `located` after its shell was resolved gets
    `copied_into`; a lost answer or a new-course attempt does not (the shell is guarded)."""
    path = tmp_path / "old.ledger.sqlite"
    shutil.copy(SCHEMA_1, path)
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO events (target_course_id, at, from_state, to_state, detail)"
            " VALUES ('HIST-210-002-SP27', '2026-11-20T22:00:00.000+00:00', ?, ?, ?)",
            [
                ("pending", "pending", "target resolved"),
                ("pending", "intent", "copy requested"),
                ("intent", "located", "/learn/api/public/v1/courses/_2_1/tasks/_11_1"),
            ],
        )
        db.execute(
            "UPDATE rows SET target_pk = '_56_1', state = 'located', attempts = 1,"
            " task_location = '/learn/api/public/v1/courses/_2_1/tasks/_11_1'"
            " WHERE target_course_id = 'HIST-210-002-SP27'"
        )
        # A new-course row that found its courseId taken, since flipped to a shell row.
        db.execute(
            "INSERT INTO events (target_course_id, at, from_state, to_state, detail)"
            " VALUES ('ENG-245-001-SP27', '2026-11-20T22:00:00.000+00:00', 'intent', 'failed',"
            " 'courseId ENG-245-001-SP27 already belongs to a course created before')"
        )
        db.execute("UPDATE rows SET attempts = 1 WHERE target_course_id = 'ENG-245-001-SP27'")
    with Ledger(path) as ledger:
        assert ledger.row("HIST-210-002-SP27").copied_into == "_56_1"
        assert ledger.row("HIST-210-001-SP27").copied_into is None  # its answer was lost
        assert ledger.row("ENG-245-001-SP27").copied_into is None
        assert shell_must_be_empty(ledger.row("ENG-245-001-SP27"), "_57_1")
