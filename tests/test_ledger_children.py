"""Merged sections in the ledger: each child of a row is a step of its own (schema 5), synced from
the manifest, recorded before and after its PUT, counted on the row, and taken up again after a
manifest change or a refusal without patching or copying the row again."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from durability import assert_synced_then_ordinary, run_killed
from test_ledger_migration import as_schema_4

from rollover.cli import Invocation, next_step
from rollover.errors import LedgerError
from rollover.ledger import (
    SCHEMA_VERSION,
    AttachmentState,
    ErrorKind,
    Ledger,
    State,
    manifest_change,
    retried_state,
)
from rollover.manifest import Enrolment
from rollover.plan import RowSpec

TARGET = "HIST-101-SP27"


def spec(*children: str, name: str = "History", instructors: tuple[Enrolment, ...] = ()) -> RowSpec:
    return RowSpec(
        TARGET,
        2,
        "HIST-101-FA26",
        False,
        patch={"name": name},
        instructors=instructors,
        children=children,
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "l.sqlite") as opened:
        opened.sync_manifest([spec("HIST-101-002", "externalId:H101-3", "_41_1")])
        yield opened


def finish(ledger: Ledger) -> None:
    """Take the row through its copy and PATCH to `done`."""
    ledger.record_intent(TARGET)
    ledger.record_location(TARGET, "/learn/api/public/v1/courses/_1_1/tasks/_9_1")
    ledger.record_copied(TARGET, "_5_1")
    ledger.record_patched(TARGET)
    ledger.record_done(TARGET)


def states(ledger: Ledger) -> list[tuple[str, AttachmentState]]:
    return [(a.child_ref, a.state) for a in ledger.attachments(TARGET)]


def test_new_children_are_pending_in_manifest_order_and_kept_in_the_spec(ledger: Ledger) -> None:
    """A synced row's children are pending, in the manifest's order, and its spec reads back
    with them; none attached yet."""
    assert states(ledger) == [
        ("HIST-101-002", AttachmentState.PENDING),
        ("externalId:H101-3", AttachmentState.PENDING),
        ("_41_1", AttachmentState.PENDING),
    ]
    row = ledger.row(TARGET)
    assert row.spec.children == ("HIST-101-002", "externalId:H101-3", "_41_1")
    assert row.children_attached == 0
    assert ledger.left_attached(TARGET) == []


def test_a_row_without_children_stores_its_spec_as_before(tmp_path: Path) -> None:
    """A spec without children is stored without a `children` key: older specs stay identical."""
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.sync_manifest([spec()])
        assert ledger.attachments(TARGET) == []
    with sqlite3.connect(path) as db:
        [(stored,)] = db.execute("SELECT spec FROM rows").fetchall()
    assert json.loads(stored) == {"patch": {"name": "History"}, "profile": "default"}


def test_attachments_are_recorded_and_counted_when_attached_and_listed(ledger: Ledger) -> None:
    """`sending`, then `attached` (with the child's primary id) or `failed` (with Learn's words);
    the row counts the attached ones; the primary id stays once known."""
    ledger.record_attachment(TARGET, "HIST-101-002", AttachmentState.SENDING)
    ledger.record_attachment(TARGET, "HIST-101-002", AttachmentState.ATTACHED, child_pk="_40_1")
    ledger.record_attachment(
        TARGET, "externalId:H101-3", AttachmentState.FAILED, error="Learn refused: has a parent"
    )
    first, second, third = ledger.attachments(TARGET)
    assert (first.state, first.child_pk, first.error) == (AttachmentState.ATTACHED, "_40_1", None)
    assert (second.state, second.error) == (AttachmentState.FAILED, "Learn refused: has a parent")
    assert third.state is AttachmentState.PENDING and third.child_pk is None
    assert ledger.row(TARGET).children_attached == 1
    ledger.record_attachment(TARGET, "HIST-101-002", AttachmentState.ATTACHED)
    assert ledger.attachments(TARGET)[0].child_pk == "_40_1"


def test_a_child_the_row_does_not_have_is_refused(ledger: Ledger) -> None:
    """Recording an attachment of a child the row does not list is a bug, refused unwritten."""
    with pytest.raises(LedgerError, match="no child MATH-1"):
        ledger.record_attachment(TARGET, "MATH-1", AttachmentState.SENDING)
    assert ledger.row(TARGET).children_attached == 0


def test_a_dropped_child_is_forgotten_unless_it_is_or_may_be_attached(ledger: Ledger) -> None:
    """Dropped from the manifest: a pending or failed child is forgotten; an attached or sending
    one is kept, unlisted (`left_attached`), no longer counted, since Learn still has it."""
    ledger.record_attachment(TARGET, "HIST-101-002", AttachmentState.ATTACHED)
    ledger.record_attachment(TARGET, "externalId:H101-3", AttachmentState.SENDING)
    ledger.sync_manifest([spec("NEW-1")])
    assert states(ledger) == [("NEW-1", AttachmentState.PENDING)]
    left = ledger.left_attached(TARGET)
    assert [(a.child_ref, a.state) for a in left] == [
        ("HIST-101-002", AttachmentState.ATTACHED),
        ("externalId:H101-3", AttachmentState.SENDING),
    ]
    assert ledger.row(TARGET).children_attached == 0
    # Listed again: it keeps what the ledger knew, and counts again; a forgotten one starts over.
    ledger.sync_manifest([spec("NEW-1", "HIST-101-002", "_41_1")])
    assert states(ledger) == [
        ("NEW-1", AttachmentState.PENDING),
        ("HIST-101-002", AttachmentState.ATTACHED),
        ("_41_1", AttachmentState.PENDING),
    ]
    assert [a.child_ref for a in ledger.left_attached(TARGET)] == ["externalId:H101-3"]
    assert ledger.row(TARGET).children_attached == 1


def test_the_sending_record_is_synced_to_disk_before_the_put(tmp_path: Path) -> None:
    """Only `sending` is committed FULL (it must outlive a power cut, like the intent before a
    copy); the outcome after the PUT is an ordinary commit."""
    sent: list[str] = []
    with Ledger(tmp_path / "l.sqlite", trace=sent.append) as ledger:
        ledger.sync_manifest([spec("HIST-101-002")])
        before = len(sent)
        ledger.record_attachment(TARGET, "HIST-101-002", AttachmentState.SENDING)
        between = len(sent)
        ledger.record_attachment(TARGET, "HIST-101-002", AttachmentState.ATTACHED)
        sending, attached = sent[before:between], sent[between:]
    assert_synced_then_ordinary(sending, attached)


KILLED_AFTER_SENDING = """
import os, signal, sys
from pathlib import Path
from rollover.ledger import AttachmentState, Ledger
from rollover.plan import RowSpec

ledger = Ledger(Path(sys.argv[1]))
ledger.acquire_run_lock()
ledger.sync_manifest([RowSpec("HIST-101-SP27", 2, "HIST-101-FA26", False, children=("C-1",))])
ledger.note_answer("HIST-101-SP27", "PUT /v1/courses/{id}/children/{id}", 200)
ledger.record_attachment("HIST-101-SP27", "C-1", AttachmentState.SENDING)
os.kill(os.getpid(), signal.SIGKILL)  # the PUT is on its way; its answer never recorded
"""


def test_the_sending_record_survives_a_killed_run(tmp_path: Path) -> None:
    """A run killed (-9) right after recording `sending` leaves a ledger that knows the PUT may
    have been sent, and whose run lock is free for the next run."""
    path = tmp_path / "l.sqlite"
    run_killed(KILLED_AFTER_SENDING, path)
    with Ledger(path) as ledger:
        ledger.acquire_run_lock()
        [record] = ledger.attachments(TARGET)
        assert record.state is AttachmentState.SENDING
        assert [(a.state, a.status) for a in ledger.answers(TARGET)] == [("pending", 200)]


def test_a_done_row_given_new_children_is_taken_up_at_patched(ledger: Ledger) -> None:
    """A done row whose manifest adds a child goes back to `patched` (attach what is missing;
    never patched or copied again); one that only drops a child stays done."""
    finish(ledger)
    done = ledger.row(TARGET)
    assert manifest_change(done, spec("HIST-101-002", "_41_1")).to is State.DONE
    ledger.sync_manifest([spec("HIST-101-002", "_41_1")])
    assert ledger.row(TARGET).state is State.DONE
    ledger.sync_manifest([spec("HIST-101-002", "_41_1", "NEW-1")])
    row = ledger.row(TARGET)
    assert row.state is State.PATCHED and row.course_pk == "_5_1" and row.attempts == 1
    assert ("NEW-1", AttachmentState.PENDING) in states(ledger)
    # A corrected name still means a new PATCH, whatever the children do.
    assert manifest_change(row, spec("X", name="Corrected")).to is State.COPIED


def test_a_row_failed_on_a_child_retries_only_its_attachments(ledger: Ledger) -> None:
    """A row failed with CHILD_REFUSED is taken up at `patched` (not patched again): after its
    children cell is fixed, or by --retry-failed, which makes its failed attachments pending."""
    ledger.record_intent(TARGET)
    ledger.record_copied(TARGET, "_5_1")
    ledger.record_patched(TARGET)
    ledger.record_attachment(TARGET, "HIST-101-002", AttachmentState.ATTACHED)
    ledger.record_attachment(
        TARGET, "_41_1", AttachmentState.FAILED, error="_41_1 is a child of another course"
    )
    ledger.record_failed(TARGET, ErrorKind.CHILD_REFUSED, "Learn refused to attach _41_1")
    failed = ledger.row(TARGET)
    assert manifest_change(failed, failed.spec).to is State.FAILED  # unchanged: left alone
    assert manifest_change(failed, spec("HIST-101-002", "_42_1")).to is State.PATCHED
    assert manifest_change(failed, spec("HIST-101-002", name="Corrected")).to is State.COPIED
    assert retried_state(failed) is State.PATCHED
    [reopened] = ledger.retry_failed()
    assert reopened.state is State.PATCHED
    assert states(ledger)[2] == ("_41_1", AttachmentState.PENDING)
    assert ledger.attachments(TARGET)[2].error is None
    assert ledger.row(TARGET).children_attached == 1


def test_status_advises_on_a_refused_child_by_its_kind(ledger: Ledger) -> None:
    """A row failed on a child is advised to fix the child_course_ids cell (or Learn), and told
    that only its attachments are retried."""
    ledger.record_failed(TARGET, ErrorKind.CHILD_REFUSED, "Learn refused to attach _41_1")
    advice = next_step(ledger.row(TARGET), Invocation("spring.csv")) or ""
    assert "child_course_ids" in advice and "only the attachments are retried" in advice


def test_a_schema_4_ledger_gains_its_children_table_on_opening(tmp_path: Path) -> None:
    """Schema 4 -> 5: a run's opening creates the children table (rows count none attached);
    a read-only opening migrates in memory and leaves the file at schema 4."""
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.sync_manifest([spec()])
        finish(ledger)
    as_schema_4(path)
    with Ledger(path, read_only=True) as reading:
        assert reading.row(TARGET).children_attached == 0
        assert reading.attachments(TARGET) == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("4",)
        assert db.execute("SELECT name FROM sqlite_master WHERE name='children'").fetchall() == []
    with Ledger(path) as ledger:
        assert ledger.row(TARGET).state is State.DONE
        ledger.sync_manifest([spec("HIST-101-002")])
        assert states(ledger) == [("HIST-101-002", AttachmentState.PENDING)]
        assert ledger.row(TARGET).state is State.PATCHED
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
