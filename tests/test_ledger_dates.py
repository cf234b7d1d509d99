"""Dated items in the ledger (issue 22, schema 6): each date's original recorded once when its kind
is listed and never overwritten, `sending` committed durably before each item's PATCH, the row's
offset and counts kept, the row's stage `shifting` while dates are left, and a changed shift
taken up again at `patched` from the recorded originals, never copied again."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from durability import assert_synced_then_ordinary, run_killed

from rollover.errors import LedgerError
from rollover.ledger import (
    SCHEMA_VERSION,
    STAGES,
    DateState,
    ErrorKind,
    Ledger,
    State,
    manifest_change,
    retried_state,
    shift_changed,
)
from rollover.plan import DateShift, RowSpec

TARGET = "HIST-101-SP27"
at = datetime.fromisoformat
SCHEMA_5 = Path(__file__).resolve().parent / "ledgers" / "schema5.ledger.sqlite"
START = {"availability": {"duration": {"type": "DateRange", "start": "2027-01-18T06:00:00.000Z"}}}

CONTENTS = [
    ("_10_1", "availability.adaptiveRelease.start", at("2026-09-01T14:00:00.000Z")),
    ("_10_1", "availability.adaptiveRelease.end", at("2026-09-08T04:59:00.000Z")),
    ("_11_1", "availability.adaptiveRelease.start", at("2026-09-15T14:00:00.000Z")),
    ("_11_1", "availability.adaptiveRelease.end", None),
    ("_12_1", "availability.adaptiveRelease.start", None),  # no dates: nothing to move
    ("_12_1", "availability.adaptiveRelease.end", None),
]
COLUMNS = [("_20_1", "grading.due", at("2026-09-08T04:59:00.000Z"))]


DAYS_140 = DateShift(days=140)


def spec(shift: DateShift | None = DAYS_140, /, **patch: object) -> RowSpec:
    return RowSpec(
        TARGET, 2, "HIST-101-FA26", False, patch={"name": "History", **patch}, shift=shift
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "l.sqlite") as opened:
        opened.sync_manifest([spec()])
        yield opened


def patched(ledger: Ledger) -> None:
    """Take the row through its copy to `patched`, where its dates move."""
    ledger.record_intent(TARGET)
    ledger.record_location(TARGET, "/learn/api/public/v1/courses/_1_1/tasks/_9_1")
    ledger.record_copied(TARGET, "_5_1")
    ledger.record_patched(TARGET)


def shifted_all(ledger: Ledger) -> None:
    """Record the offset and every kind, and move every item (each PATCH answered)."""
    ledger.record_shift_offset(TARGET, 140)
    ledger.record_dated_items(TARGET, "content", CONTENTS)
    ledger.record_dated_items(TARGET, "column", COLUMNS)
    ledger.record_dated_items(TARGET, "announcement", [])
    for item in ledger.dated_items(TARGET):
        new = dict.fromkeys(item.original, at("2027-01-19T14:00:00.000Z"))
        ledger.record_date(TARGET, item.kind, item.item_id, DateState.SENDING, new=new)
        ledger.record_date(TARGET, item.kind, item.item_id, DateState.SHIFTED)


def states(ledger: Ledger) -> list[tuple[str, str, DateState]]:
    return [(i.kind, i.item_id, i.state) for i in ledger.dated_items(TARGET)]


def test_originals_are_recorded_once_and_never_overwritten(ledger: Ledger) -> None:
    """Listing a kind records each dated item's originals (empty dates as None) in Learn's order
    and marks the kind listed; listed again, an item keeps the originals first recorded; an
    item with no date at all is not recorded."""
    patched(ledger)
    ledger.record_dated_items(TARGET, "content", CONTENTS)
    first, second = ledger.dated_items(TARGET)
    assert (first.kind, first.item_id, first.state) == ("content", "_10_1", DateState.PENDING)
    assert first.original == {
        "availability.adaptiveRelease.start": at("2026-09-01T14:00:00.000Z"),
        "availability.adaptiveRelease.end": at("2026-09-08T04:59:00.000Z"),
    }
    assert second.original["availability.adaptiveRelease.end"] is None
    assert set(second.new.values()) == {None}
    # What Learn holds now (moved already) never replaces the recorded original.
    moved = [(i, f, o and at("2027-01-19T14:00:00.000Z")) for i, f, o in CONTENTS] + [
        ("_13_1", "availability.adaptiveRelease.start", at("2026-10-01T14:00:00.000Z"))
    ]
    ledger.record_dated_items(TARGET, "content", moved)
    again = ledger.dated_items(TARGET)
    assert again[:2] == [first, second]
    assert [i.item_id for i in again] == ["_10_1", "_11_1", "_13_1"]
    row = ledger.row(TARGET)
    assert row.dates_listed == frozenset({"content"})
    assert (row.dates_shifted, row.dates_to_shift) == (0, 3)


def test_items_move_one_patch_each_and_the_row_counts_them(ledger: Ledger) -> None:
    """`sending` (with the new values), then `shifted`, `failed` (Learn's words) or `gone`: the
    row counts items moved of those still in Learn; new values stay once recorded."""
    patched(ledger)
    ledger.record_dated_items(TARGET, "content", CONTENTS)
    ledger.record_dated_items(TARGET, "column", COLUMNS)
    due = {"grading.due": at("2027-01-26T04:59:00.000Z")}
    ledger.record_date(TARGET, "column", "_20_1", DateState.SENDING, new=due)
    ledger.record_date(TARGET, "column", "_20_1", DateState.SHIFTED)
    ledger.record_date(TARGET, "content", "_10_1", DateState.FAILED, error="Learn refused: end")
    ledger.record_date(TARGET, "content", "_11_1", DateState.GONE)
    assert states(ledger) == [
        ("content", "_10_1", DateState.FAILED),
        ("content", "_11_1", DateState.GONE),
        ("column", "_20_1", DateState.SHIFTED),
    ]
    column = ledger.dated_items(TARGET)[2]
    assert column.new == due and column.original == {"grading.due": at("2026-09-08T04:59:00.000Z")}
    assert ledger.dated_items(TARGET)[0].error == "Learn refused: end"
    row = ledger.row(TARGET)
    assert (row.dates_shifted, row.dates_to_shift) == (1, 2)


def test_an_item_field_or_kind_the_row_has_not_is_refused(ledger: Ledger) -> None:
    """Recording a date of an unrecorded item or field, or a kind that is not one, is a bug,
    refused with nothing written."""
    ledger.record_dated_items(TARGET, "column", COLUMNS)
    with pytest.raises(LedgerError, match="no dated column _99_1"):
        ledger.record_date(TARGET, "column", "_99_1", DateState.SENDING)
    with pytest.raises(LedgerError, match=r"has no grading\.start"):
        ledger.record_date(
            TARGET, "column", "_20_1", DateState.SHIFTED, new={"grading.start": None}
        )
    with pytest.raises(LedgerError, match="'calender' is not a kind"):
        ledger.record_dated_items(TARGET, "calender", [("_1_1", "start", None)])
    assert states(ledger) == [("column", "_20_1", DateState.PENDING)]
    assert ledger.row(TARGET).dates_listed == frozenset({"column"})


def test_dates_are_kept_as_utc_text_and_a_naive_date_is_refused(ledger: Ledger) -> None:
    """A date is stored as ISO UTC text to the millisecond, whatever its zone, and reads back as
    the same moment; a date without a zone (it would be read in this machine's) is refused."""
    chicago = datetime(2026, 9, 7, 23, 59, tzinfo=ZoneInfo("America/Chicago"))
    ledger.record_dated_items(TARGET, "column", [("_20_1", "grading.due", chicago)])
    with sqlite3.connect(ledger.path) as db:
        stored = db.execute("SELECT original FROM dated_items").fetchall()
    assert stored == [("2026-09-08T04:59:00.000+00:00",)]
    assert ledger.dated_items(TARGET)[0].original == {"grading.due": chicago}
    with pytest.raises(LedgerError, match="has no time zone"):
        ledger.record_date(
            TARGET, "column", "_20_1", DateState.SENDING, new={"grading.due": datetime(2027, 1, 1)}
        )
    with pytest.raises(LedgerError, match="has no time zone"):
        ledger.record_dated_items(TARGET, "content", [("_1_1", "x.start", datetime(2027, 1, 1))])
    assert ledger.dated_items(TARGET)[0].new == {"grading.due": None}


def test_the_sending_record_is_synced_to_disk_before_the_patch(ledger: Ledger) -> None:
    """Only `sending` is committed FULL (it must outlive a power cut, like the intent before a
    copy); the outcome after the PATCH is an ordinary commit."""
    sent: list[str] = []
    path = ledger.path
    ledger.record_dated_items(TARGET, "column", COLUMNS)
    ledger.close()
    with Ledger(path, trace=sent.append) as traced:
        before = len(sent)
        traced.record_date(TARGET, "column", "_20_1", DateState.SENDING)
        between = len(sent)
        traced.record_date(TARGET, "column", "_20_1", DateState.SHIFTED)
        sending, shifted = sent[before:between], sent[between:]
    assert_synced_then_ordinary(sending, shifted)


KILLED_AFTER_SENDING = """
import os, signal, sys
from pathlib import Path
from datetime import datetime
from rollover.ledger import DateState, Ledger
from rollover.plan import DateShift, RowSpec

t = datetime.fromisoformat

ledger = Ledger(Path(sys.argv[1]))
ledger.acquire_run_lock()
ledger.sync_manifest([RowSpec("HIST-101-SP27", 2, "F", False, shift=DateShift(days=7))])
ledger.record_shift_offset("HIST-101-SP27", 7)
ledger.record_dated_items("HIST-101-SP27", "column", [("_20_1", "grading.due", t("2026-09-08T04:59Z"))])
ledger.note_answer("HIST-101-SP27", "PATCH /v2/courses/{id}/gradebook/columns/{id}", 200)
ledger.record_date(
    "HIST-101-SP27", "column", "_20_1", DateState.SENDING, new={"grading.due": t("2026-09-15T04:59Z")}
)
os.kill(os.getpid(), signal.SIGKILL)  # the PATCH is on its way; its answer never recorded
"""


def test_the_sending_record_survives_a_killed_run(tmp_path: Path) -> None:
    """A run killed (-9) right after recording `sending` leaves a ledger that knows the PATCH
    may have been sent, with the original and the value sent, and a free run lock."""
    path = tmp_path / "l.sqlite"
    run_killed(KILLED_AFTER_SENDING, path)
    with Ledger(path) as ledger:
        ledger.acquire_run_lock()
        [item] = ledger.dated_items(TARGET)
        assert item.state is DateState.SENDING
        assert (item.original, item.new) == (
            {"grading.due": datetime(2026, 9, 8, 4, 59, tzinfo=UTC)},
            {"grading.due": datetime(2026, 9, 15, 4, 59, tzinfo=UTC)},
        )
        assert ledger.row(TARGET).shift_days == 7
        assert [(a.state, a.status) for a in ledger.answers(TARGET)] == [("pending", 200)]


def test_the_shift_is_stored_in_the_spec_only_when_set(tmp_path: Path) -> None:
    """A shift is kept in the spec as {"days": n} or {"term": true} and reads back; a row
    without one is stored as before (no `shift` key)."""
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.sync_manifest(
            [
                spec(DateShift(days=-7)),
                RowSpec("T-2", 3, "S-2", False, shift=DateShift(term=True)),
                RowSpec("T-3", 4, "S-3", False),
            ]
        )
        assert [row.spec.shift for row in ledger.rows()] == [
            DateShift(days=-7),
            DateShift(term=True),
            None,
        ]
    with sqlite3.connect(path) as db:
        stored = [json.loads(s) for (s,) in db.execute("SELECT spec FROM rows ORDER BY line")]
    assert [s.get("shift") for s in stored] == [{"days": -7}, {"term": True}, None]
    assert "shift" not in stored[2]


def test_a_patched_row_is_shifting_until_every_date_moved(ledger: Ledger) -> None:
    """A patched row with a shift is in the stage `shifting` (between patching and done) until
    its offset is recorded, every kind listed and every item still in Learn moved; a row
    without a shift is patching, as before."""
    assert STAGES.index("patching") < STAGES.index("shifting") < STAGES.index("done")
    assert ledger.row(TARGET).stage == "queued"
    patched(ledger)
    assert ledger.row(TARGET).stage == "shifting"
    ledger.record_shift_offset(TARGET, 140)
    ledger.record_dated_items(TARGET, "content", CONTENTS)
    ledger.record_dated_items(TARGET, "column", [])
    for item_id in ("_10_1", "_11_1"):
        ledger.record_date(TARGET, "content", item_id, DateState.SHIFTED)
    assert ledger.row(TARGET).stage == "shifting"  # announcements not listed yet
    ledger.record_dated_items(TARGET, "announcement", [])
    row = ledger.row(TARGET)
    assert (row.stage, row.dates_left) == ("patching", False)
    ledger.record_done(TARGET)
    assert ledger.row(TARGET).stage == "done"
    ledger.sync_manifest([spec(None)])  # the shift taken out: moved back (offset 0)
    assert ledger.row(TARGET).state is State.PATCHED
    assert ledger.row(TARGET).stage == "shifting"
    ledger.sync_manifest([spec(None), RowSpec("T-2", 3, "S-2", False)])
    ledger.record_intent("T-2")
    ledger.record_copied("T-2", "_6_1")
    ledger.record_patched("T-2")
    assert ledger.row("T-2").stage == "patching"


def test_the_offset_is_recorded_in_the_history_of_an_unfinished_row(ledger: Ledger) -> None:
    """`record_shift_offset` keeps the days on the row and says so in its history; a finished
    row is refused."""
    patched(ledger)
    ledger.record_shift_offset(TARGET, -7)
    assert ledger.row(TARGET).shift_days == -7
    assert ledger.history(TARGET)[-1].detail == "dated items shift by -7 days"
    ledger.record_done(TARGET)
    with pytest.raises(LedgerError, match="done -> done"):
        ledger.record_shift_offset(TARGET, 7)


def test_a_changed_shift_moves_the_dates_again_from_their_originals(ledger: Ledger) -> None:
    """A done row whose shift changed is taken up at `patched` (no new copy, no new PATCH): its
    offset cleared to be computed again, every item still in Learn pending with its recorded
    original and no new value; a gone item stays gone."""
    patched(ledger)
    shifted_all(ledger)
    ledger.record_date(TARGET, "content", "_11_1", DateState.GONE)
    ledger.record_done(TARGET)
    before = ledger.dated_items(TARGET)
    done = ledger.row(TARGET)
    assert manifest_change(done, spec(DateShift(days=140))).to is State.DONE
    assert manifest_change(done, spec(DateShift(days=147))).to is State.PATCHED
    ledger.sync_manifest([spec(DateShift(days=147))])
    row = ledger.row(TARGET)
    assert (row.state, row.course_pk, row.attempts, row.shift_days) == (
        State.PATCHED,
        "_5_1",
        1,
        None,
    )
    assert (row.dates_shifted, row.dates_to_shift, row.stage) == (0, 2, "shifting")
    # What Learn holds now (the next writes' direction) is the offset written before: kept.
    assert {i.held_days for i in ledger.dated_items(TARGET)} == {done.shift_days} != {None}
    ledger.sync_manifest([spec(DateShift(days=154))])  # changed again before any item moved
    assert {i.held_days for i in ledger.dated_items(TARGET)} == {done.shift_days}
    after = ledger.dated_items(TARGET)
    assert [i.original for i in after] == [i.original for i in before]
    assert [(i.state, set(i.new.values())) for i in after] == [
        (DateState.PENDING, {None}),
        (DateState.GONE, {at("2027-01-19T14:00:00.000Z")}),
        (DateState.PENDING, {None}),
    ]
    # A name corrected at the same time still means a new PATCH (and the dates after it).
    assert manifest_change(done, spec(DateShift(days=147), name="Corrected")).to is State.COPIED


def test_a_term_shift_changes_with_the_row_s_start_date(ledger: Ledger) -> None:
    """A `term` shift's offset runs to the row's start_date: a new start_date changes it (and the
    dates are moved again); a new name alone does not, nor does an unchanged days shift."""
    term = DateShift(term=True)
    moved = {"availability": {"duration": {"type": "DateRange", "start": "2027-01-25T06:00Z"}}}
    assert shift_changed(spec(term, **START), spec(term, **moved))
    assert not shift_changed(spec(term, **START), spec(term, name="New", **START))
    assert not shift_changed(spec(**START), spec(**moved))
    assert shift_changed(spec(term), spec(DateShift(days=7)))
    patched(ledger)
    ledger.sync_manifest([spec(term, **START)])
    shifted_all(ledger)
    ledger.sync_manifest([spec(term, name="New", **START)])
    assert ledger.row(TARGET).shift_days == 140
    ledger.sync_manifest([spec(term, name="New", **moved)])
    assert ledger.row(TARGET).shift_days is None
    assert {i.state for i in ledger.dated_items(TARGET)} == {DateState.PENDING}


def test_a_row_failed_on_its_dates_retries_only_its_dates(ledger: Ledger) -> None:
    """A row failed with DATES_REFUSED is taken up at `patched` (never patched or copied again):
    after its shift is changed, or by --retry-failed, which makes only its failed items pending."""
    patched(ledger)
    ledger.record_shift_offset(TARGET, 140)
    ledger.record_dated_items(TARGET, "content", CONTENTS)
    ledger.record_date(TARGET, "content", "_10_1", DateState.SHIFTED)
    ledger.record_date(TARGET, "content", "_11_1", DateState.FAILED, error="end after due")
    ledger.record_failed(TARGET, ErrorKind.DATES_REFUSED, "Learn refused to move _11_1")
    failed = ledger.row(TARGET)
    assert ErrorKind.DATES_REFUSED.words and "_" not in ErrorKind.DATES_REFUSED.words
    assert manifest_change(failed, failed.spec).to is State.FAILED  # unchanged: left alone
    assert manifest_change(failed, spec(DateShift(days=7))).to is State.PATCHED
    assert manifest_change(failed, spec(name="Corrected")).to is State.COPIED
    assert retried_state(failed) is State.PATCHED
    [reopened] = ledger.retry_failed()
    assert reopened.state is State.PATCHED and reopened.shift_days == 140
    assert states(ledger) == [
        ("content", "_10_1", DateState.SHIFTED),
        ("content", "_11_1", DateState.PENDING),
    ]
    assert ledger.dated_items(TARGET)[1].error is None
    assert (ledger.row(TARGET).dates_shifted, ledger.row(TARGET).dates_to_shift) == (1, 2)


def test_a_schema_5_ledger_gains_its_dated_items_on_opening(tmp_path: Path) -> None:
    """Schema 5 -> 6 (a ledger rollover's schema 5 wrote): rows keep their states, children and
    instructors, with no shift, offset or dated items; a read-only opening migrates in memory and
    leaves the file at 5; a run's opening migrates it, and a shift added to a done row moves
    its dates at `patched`."""
    path = tmp_path / "spring2027.ledger.sqlite"
    shutil.copy(SCHEMA_5, path)

    def version() -> str:
        with sqlite3.connect(path) as db:
            return str(
                db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
            )

    assert version() == "5"
    with Ledger(path, read_only=True) as reading:
        rows = {row.target_course_id: row for row in reading.rows()}
        assert reading.dated_items("HIST-101-SP27") == []
    assert version() == "5"
    assert {t: r.state for t, r in rows.items()} == {
        "HIST-101-SP27": State.DONE,
        "BIO-101-SP27": State.PATCHED,
        "CHEM-101-SP27": State.PENDING,
    }
    hist = rows["HIST-101-SP27"]
    assert (hist.spec.children, hist.children_attached, hist.enrolled) == (("HIST-101-002",), 1, 1)
    for row in rows.values():
        assert (row.spec.shift, row.shift_days, row.dates_listed) == (None, None, frozenset())
        assert (row.dates_shifted, row.dates_to_shift) == (0, 0)
    assert rows["BIO-101-SP27"].stage == "patching"
    with Ledger(path) as ledger:
        assert version() == str(SCHEMA_VERSION) == "8"
        shifted = RowSpec(
            "HIST-101-SP27",
            2,
            "HIST-101-FA26",
            False,
            patch=hist.spec.patch,
            instructors=hist.spec.instructors,
            children=hist.spec.children,
            shift=DateShift(term=True),
        )
        ledger.sync_manifest([shifted, rows["BIO-101-SP27"].spec, rows["CHEM-101-SP27"].spec])
        row = ledger.row("HIST-101-SP27")
        assert (row.state, row.stage, row.course_pk) == (State.PATCHED, "shifting", "_5_1")
        ledger.record_dated_items("HIST-101-SP27", "column", COLUMNS)
        assert ledger.row("HIST-101-SP27").dates_to_shift == 1


def test_a_copied_row_with_nothing_to_patch_is_shifting_while_its_dates_wait(
    tmp_path: Path,
) -> None:
    """A row whose manifest changes nothing but its dates is never PATCHed, so it stays
    `copied`: once its course is known it shows `shifting` (not `patching`) until its dates
    moved, as a patched row does."""
    bare = RowSpec(TARGET, 2, "HIST-101-FA26", False, shift=DAYS_140)
    with Ledger(tmp_path / "bare.sqlite") as ledger:
        ledger.sync_manifest([bare])
        ledger.record_intent(TARGET)
        ledger.record_location(TARGET, "/learn/api/public/v1/courses/_1_1/tasks/_9_1")
        ledger.record_copied(TARGET, "_5_1")
        row = ledger.row(TARGET)
        assert (row.state, row.stage) == (State.COPIED, "shifting")
        ledger.record_shift_offset(TARGET, 140)
        for kind in ("content", "column", "announcement"):
            ledger.record_dated_items(TARGET, kind, [])
        assert ledger.row(TARGET).stage == "patching"  # nothing left to move


def test_a_schema_6_ledger_gains_the_offset_before_and_titles_on_opening(tmp_path: Path) -> None:
    """Schema 6 -> 7: a ledger written before rows kept the offset held before a shift change,
    and dated items their titles, opens (read-only in memory, then for a run on disk) with 0
    before and no titles, its dated items and counts as they were."""
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.sync_manifest([spec()])
        patched(ledger)
        shifted_all(ledger)
    with sqlite3.connect(path) as db:  # what schema 6 kept
        db.execute("ALTER TABLE rows DROP COLUMN shift_before")
        db.execute("ALTER TABLE dated_items DROP COLUMN title")
        db.execute("ALTER TABLE rows DROP COLUMN calendar_span")
        db.execute("ALTER TABLE dated_items DROP COLUMN held_days")
        db.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    with Ledger(path, read_only=True) as reading:
        row = reading.row(TARGET)
        assert (row.shift_days, row.dates_shifted) == (140, 3)
        assert {item.held_days for item in reading.dated_items(TARGET)} == {140}
        assert {item.title for item in reading.dated_items(TARGET)} == {""}
    with Ledger(path) as ledger:
        assert ledger.row(TARGET).dates_to_shift == 3
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("8",)


def test_a_schema_7_ledger_gains_the_held_offsets_and_calendar_span(tmp_path: Path) -> None:
    """Schema 7 -> 8: each item a schema-7 ledger holds as shifted holds its row's offset, the
    others their originals (0); no calendar was read. A shift changed afterwards keeps them."""
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.sync_manifest([spec()])
        patched(ledger)
        shifted_all(ledger)
        first = ledger.dated_items(TARGET)[0]
        ledger.record_date(TARGET, first.kind, first.item_id, DateState.PENDING)
    with sqlite3.connect(path) as db:  # what schema 7 kept
        db.execute("ALTER TABLE rows DROP COLUMN calendar_span")
        db.execute("ALTER TABLE dated_items DROP COLUMN held_days")
        db.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    with Ledger(path) as ledger:
        items = ledger.dated_items(TARGET)
        assert [i.held_days for i in items] == [0] + [140] * (len(items) - 1)
        assert ledger.row(TARGET).calendar_span is None
        ledger.sync_manifest([spec(DateShift(days=7))])
        assert [i.held_days for i in ledger.dated_items(TARGET)] == [i.held_days for i in items]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("8",)
