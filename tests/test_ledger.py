"""The ledger: its state machine, manifest sync, ownership and durability settings."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rollover.errors import LedgerError
from rollover.ledger import ErrorKind, Ledger, State
from rollover.plan import RowSpec


def spec(
    target: str = "BIO-101-SP27",
    source: str = "BIO-101-FA26",
    line: int = 2,
    patch: dict[str, Any] | None = None,
    into: bool = False,
) -> RowSpec:
    return RowSpec(target, line, source, into, patch=patch or {"name": "B"})


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "l.sqlite") as opened:
        opened.sync_manifest([spec()])
        yield opened


def test_happy_path_walks_every_state_in_order(ledger: Ledger) -> None:
    """pending -> intent -> located -> copied -> patched -> done, each recorded in history."""
    ledger.record_intent("BIO-101-SP27")
    ledger.record_location("BIO-101-SP27", "/learn/api/public/v1/courses/_1_1/tasks/_9_1")
    ledger.record_copied("BIO-101-SP27", "_5_1")
    ledger.record_patched("BIO-101-SP27")
    ledger.record_done("BIO-101-SP27")
    row = ledger.row("BIO-101-SP27")
    assert (row.state, row.course_pk, row.attempts) == (State.DONE, "_5_1", 1)
    assert row.task_location == "/learn/api/public/v1/courses/_1_1/tasks/_9_1"
    assert row.intent_at and row.requested_at and row.completed_at
    assert [step.to_state for step in ledger.history("BIO-101-SP27")] == [
        "pending",
        "intent",
        "located",
        "copied",
        "patched",
        "done",
    ]


def test_out_of_order_transitions_are_refused(ledger: Ledger) -> None:
    """No Location without an intent, no patch before the copy: the ledger refuses."""
    with pytest.raises(LedgerError):
        ledger.record_location("BIO-101-SP27", "/x")
    with pytest.raises(LedgerError):
        ledger.record_patched("BIO-101-SP27")
    assert ledger.row("BIO-101-SP27").state is State.PENDING


def test_every_transition_is_durable_at_once(tmp_path: Path) -> None:
    """A second connection sees each transition as soon as the call returns (no open txn)."""
    path = tmp_path / "l.sqlite"
    with Ledger(path) as writer:
        writer.sync_manifest([spec()])
        writer.record_intent("BIO-101-SP27")
        with Ledger(path) as reader:
            assert reader.row("BIO-101-SP27").state is State.INTENT


def test_wal_owner_only_and_the_intent_synced_to_disk(tmp_path: Path) -> None:
    """WAL, owner-only; the intent before a POST is committed FULL, other writes NORMAL."""
    path = tmp_path / "l.sqlite"
    sent: list[str] = []
    with Ledger(path, trace=sent.append) as opened:
        opened.sync_manifest([spec()])
        opened_at = len(sent)
        opened.record_intent("BIO-101-SP27")
        intent_at = len(sent)
        opened.record_location("BIO-101-SP27", "/t")
        intent, location = sent[opened_at:intent_at], sent[intent_at:]
    assert "PRAGMA journal_mode=WAL" in sent[:opened_at]
    assert intent[0] == "PRAGMA synchronous=FULL"
    assert intent.index("COMMIT") < intent.index("PRAGMA synchronous=NORMAL")
    assert not any("synchronous" in statement for statement in location)
    assert [s for s in sent if "synchronous" in s][-1] == "PRAGMA synchronous=NORMAL"
    db = sqlite3.connect(path)  # WAL is kept in the file itself
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_changed_patch_fields_patch_a_done_row_again(ledger: Ledger) -> None:
    """A corrected name on a re-run sends a done row back to `copied`, to be patched again."""
    for step in (
        lambda: ledger.record_intent("BIO-101-SP27"),
        lambda: ledger.record_location("BIO-101-SP27", "/t"),
        lambda: ledger.record_copied("BIO-101-SP27", "_5_1"),
        lambda: ledger.record_done("BIO-101-SP27"),
    ):
        step()
    ledger.sync_manifest([spec(patch={"name": "Corrected"})])
    row = ledger.row("BIO-101-SP27")
    assert row.state is State.COPIED and row.spec.patch == {"name": "Corrected"}


def test_changed_source_after_copy_is_refused_and_nothing_changes(ledger: Ledger) -> None:
    """A new source for an already-requested copy is refused, naming the line; no row changes."""
    ledger.record_intent("BIO-101-SP27")
    with pytest.raises(LedgerError) as refused:
        ledger.sync_manifest([spec(source="OTHER-FA26", line=7), spec("NEW-SP27", line=8)])
    assert "line 7" in refused.value.message and "OTHER-FA26" in refused.value.message
    assert [r.target_course_id for r in ledger.rows()] == ["BIO-101-SP27"]
    assert ledger.row("BIO-101-SP27").source_course_id == "BIO-101-FA26"


def test_failed_row_with_changed_input_is_tried_again(ledger: Ledger) -> None:
    """A failed row whose source was corrected goes back to pending."""
    ledger.record_intent("BIO-101-SP27")
    ledger.record_failed(
        "BIO-101-SP27", ErrorKind.COPY_REFUSED, "Learn refused the copy: not found"
    )
    ledger.sync_manifest([spec(source="BIO-101-FA26-FIXED")])
    row = ledger.row("BIO-101-SP27")
    assert row.state is State.PENDING and row.error is None


def test_rows_removed_from_the_manifest_are_kept_but_not_listed(ledger: Ledger) -> None:
    """A row dropped from the manifest stays in the ledger, outside the manifest's rows."""
    ledger.sync_manifest([spec("OTHER-SP27")])
    assert [r.target_course_id for r in ledger.rows()] == ["OTHER-SP27"]
    assert {r.target_course_id for r in ledger.rows(in_manifest_only=False)} == {
        "BIO-101-SP27",
        "OTHER-SP27",
    }


def test_rows_in_states_reads_only_the_manifests_rows_in_them(ledger: Ledger) -> None:
    """`rows_in` gives the manifest's rows in the states asked, in line order, and no other
    (neither a row in another state nor one the manifest dropped)."""
    ledger.sync_manifest([spec(), spec("CHEM-SP27", line=3), spec("HIST-SP27", line=4)])
    for target in ("BIO-101-SP27", "HIST-SP27"):
        ledger.record_intent(target)
    ledger.record_location("HIST-SP27", "/learn/api/public/v1/courses/_1_1/tasks/_9_1")
    assert [r.target_course_id for r in ledger.rows_in((State.INTENT, State.LOCATED))] == [
        "BIO-101-SP27",
        "HIST-SP27",
    ]
    ledger.sync_manifest([spec("CHEM-SP27", line=3), spec("HIST-SP27", line=4)])
    assert [r.target_course_id for r in ledger.rows_in([State.INTENT])] == []
    assert [r.target_course_id for r in ledger.rows_in([State.PENDING])] == ["CHEM-SP27"]


def test_one_run_per_ledger(tmp_path: Path) -> None:
    """A second run lock on the same ledger is refused; closing the first releases it."""
    path = tmp_path / "l.sqlite"
    first = Ledger(path)
    first.acquire_run_lock()
    with Ledger(path) as second, pytest.raises(LedgerError, match="another rollover run"):
        second.acquire_run_lock()
    first.close()
    with Ledger(path) as third:
        third.acquire_run_lock()


def test_ledger_of_another_site_is_refused(tmp_path: Path) -> None:
    """A ledger bound to one Learn site refuses to be used against another."""
    with Ledger(tmp_path / "l.sqlite") as opened:
        opened.bind_site("https://learn.example.edu")
        opened.bind_site("https://learn.example.edu")
        with pytest.raises(LedgerError, match="records a rollover against"):
            opened.bind_site("https://other.example.edu")


def test_foreign_or_newer_files_get_clear_errors(tmp_path: Path) -> None:
    """A file that is not a ledger, or one from a newer rollover, is a LedgerError."""
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(LedgerError, match="not a rollover ledger"):
        Ledger(junk)
    newer = tmp_path / "newer.sqlite"
    Ledger(newer).close()
    db = sqlite3.connect(newer)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(LedgerError, match="newer rollover"):
        Ledger(newer)


def test_another_programs_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """An SQLite file of another program is named as such, and no table is added to it."""
    other = tmp_path / "grades.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE grades (student TEXT, grade TEXT)")
    before = other.read_bytes()
    with pytest.raises(
        LedgerError,
        match="SQLite database but not a rollover ledger "
        r"\(its tables: grades\)",
    ) as caught:
        Ledger(other)
    assert "pass --ledger with a new path" in (caught.value.hint or "")
    assert other.read_bytes() == before


def test_a_damaged_ledger_is_refused_with_keep_it_advice(tmp_path: Path) -> None:
    """A ledger SQLite finds damaged is refused before any write, with advice to keep it."""
    path = tmp_path / "l.sqlite"
    with Ledger(path) as ledger:
        ledger.sync_manifest([spec(target=f"T-{i:04d}", line=i + 2) for i in range(400)])
    with sqlite3.connect(path) as db:  # fold the WAL in, so the damage below is in the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for start in range(2 * page, len(data), page):  # spoil the b-tree header of pages 3..n
        data[start : start + 8] = b"\xa5" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(LedgerError) as caught:
        Ledger(path)
    message = str(caught.value.message)
    assert "damaged" in message
    assert "keep" in (caught.value.hint or "")


def test_failed_patch_with_corrected_input_is_patched_not_copied_again(ledger: Ledger) -> None:
    """A row whose copy exists but whose PATCH failed goes back to `copied` when corrected."""
    ledger.record_intent("BIO-101-SP27")
    ledger.record_location("BIO-101-SP27", "/t")
    ledger.record_copied("BIO-101-SP27", "_5_1")
    ledger.record_failed(
        "BIO-101-SP27", ErrorKind.PATCH_REFUSED, "copied as _5_1 but Learn refused the PATCH: taken"
    )
    ledger.sync_manifest([spec(patch={"externalId": "FIXED"})])
    row = ledger.row("BIO-101-SP27")
    assert row.state is State.COPIED and row.course_pk == "_5_1"
