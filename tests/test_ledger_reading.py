"""Commands that only read the ledger (`status`, `status --check`, `status --row`, `report`,
`validate --check-learn`) never write it, read it while a run holds it, read an old ledger
without migrating it, and read one in a folder or file that cannot be written."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runs import FAST, invoke, sandbox_run, write
from processes import wait_for_rows_past_pending

from rollover.errors import LedgerError
from rollover.ledger import ErrorKind, Ledger

TESTS = Path(__file__).resolve().parent
SCHEMA_1 = TESTS / "ledgers" / "schema1.ledger.sqlite"
MANIFEST = (
    "source_course_id,target_course_id,name\n"
    "BIO-101-FA26,BIO-101-001-SP27,Biology\n"
    "BIO-101-FA26,BIO-101-002-SP27,Biology 2\n"
)
DONE_CHECK = "ROLLOVER OK - 2 done of 2 | done=2 failed=0 needs_review=0 pending=0 age="
OLD_COUNTS = "25 rows: 1 done, 2 failed, 1 needs_review, 21 pending"

# A second process that holds a write transaction on a ledger until its stdin closes, the way a
# run holds one while it commits a step (here: one that would fail every row, never committed).
HOLD_A_WRITE = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE rows SET state = 'failed', error = 'not committed'")
    print("holding", flush=True)
    sys.stdin.read()
    db.execute("ROLLBACK")
    """
)


def file_state(path: Path) -> tuple[bytes, int]:
    """The ledger file's bytes and its modification time, to the nanosecond."""
    return path.read_bytes(), path.stat().st_mtime_ns


def schema_version(path: Path) -> str:
    """The schema version the file records, read straight from it."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return str(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    """A two-row manifest after a successful rehearsal; its ledger is spring.sandbox.ledger.sqlite."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    result = sandbox_run(tmp_path, manifest, "--quiet")
    assert result.exit_code == 0, result.output
    return manifest


@pytest.fixture
def old_ledger(tmp_path: Path) -> Path:
    """A copy of the ledger the previous rollover wrote (schema 1, 25 rows)."""
    path = tmp_path / "fall2026.ledger.sqlite"
    shutil.copy(SCHEMA_1, path)
    return path


@pytest.fixture
def write_held(finished: Path) -> Iterator[Path]:
    """The rehearsal's ledger while another process holds a write transaction on it."""
    ledger = finished.with_name("spring.sandbox.ledger.sqlite")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_WRITE, str(ledger)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "holding\n"
        yield ledger
    finally:
        holder.stdin.close()
        holder.stdout.close()
        assert holder.wait(timeout=30) == 0


def test_status_check_answers_while_another_process_holds_a_write(
    finished: Path, write_held: Path
) -> None:
    """While another process holds a write transaction, `status --check` answers at once from
    what is committed (no wait for the lock, no "damaged"), and so do status and report."""
    check = invoke("status", finished, "--sandbox", "--check")
    assert check.exit_code == 0 and check.stdout.startswith(DONE_CHECK), check.output
    status = invoke("status", finished, "--sandbox", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["counts"]["done"] == 2
    trail = invoke("status", finished, "--sandbox", "--row", "3")
    assert trail.exit_code == 0 and "BIO-101-002-SP27" in trail.stdout
    report = invoke("report", finished, "--sandbox", "--results", finished.with_name("r.csv"))
    assert report.exit_code == 0, report.output
    assert "2 rows: 2 done" in report.stdout


def test_status_check_reads_a_run_in_progress(tmp_path: Path) -> None:
    """During a real `rollover run` process (copies in flight), `status --check` says WARNING
    with the pending rows and `status` counts them; the run is then stopped by SIGTERM (exit 3)."""
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    config = write(tmp_path / "slow.toml", "copy_seconds = 600\n")
    ledger = tmp_path / "spring.sandbox.ledger.sqlite"
    command = [sys.executable, "-m", "rollover", "run", manifest, "--sandbox", "--quiet"]
    run = subprocess.Popen(
        [str(part) for part in [*command, "--sandbox-config", config, *FAST]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_rows_past_pending(ledger, 2, run)
        check = invoke("status", manifest, "--sandbox", "--check")
        assert check.exit_code == 1, check.output
        assert check.stdout.startswith("ROLLOVER WARNING - 2 pending of 2; last update ")
        status = invoke("status", manifest, "--sandbox")
        assert status.exit_code == 0, status.output
        assert "2 rows: 0 done, 0 failed, 0 needs_review, 2 pending" in status.stdout
        assert "2 copying" in status.stdout
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 3
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def test_reading_commands_leave_the_ledger_file_as_it_was(tmp_path: Path, finished: Path) -> None:
    """status (every form), report (CSV and HTML) and validate --check-learn change neither the
    ledger's bytes nor its modification time, and create no lock file."""
    ledger = tmp_path / "spring.sandbox.ledger.sqlite"
    (tmp_path / "spring.sandbox.ledger.sqlite.lock").unlink()
    before = file_state(ledger)
    commands = [
        ("status", finished, "--sandbox"),
        ("status", finished, "--sandbox", "--json"),
        ("status", finished, "--sandbox", "--check"),
        ("status", finished, "--sandbox", "--row", "BIO-101-001-SP27"),
        ("report", finished, "--sandbox", "--html", tmp_path / "night.html"),
        ("validate", finished, "--check-learn", "--sandbox", "--ledger", ledger),
    ]
    for command in commands:
        result = invoke(*command)
        assert result.exit_code == 0, (command, result.output)
    assert file_state(ledger) == before
    assert not (tmp_path / "spring.sandbox.ledger.sqlite.lock").exists()


def test_an_old_ledger_is_read_as_migrated_and_left_as_it_was(old_ledger: Path) -> None:
    """status, status --check, status --row and report read a schema-1 ledger with its errors'
    kinds, and leave the file schema 1, byte for byte (the next run migrates it)."""
    before = file_state(old_ledger)
    status = invoke("status", "--ledger", old_ledger)
    assert status.exit_code == 0, status.output
    assert status.stdout.startswith(OLD_COUNTS)
    kinds = {
        item["target_course_id"]: item["error_kind"]
        for item in json.loads(invoke("status", "--ledger", old_ledger, "--json").stdout)[
            "needs_person"
        ]
    }
    assert kinds == {
        "BIO-101-002-SP27": ErrorKind.COPY_REFUSED,
        "BIO-101-003-SP27": ErrorKind.PATCH_REFUSED,
        "HIST-210-001-SP27": ErrorKind.COPY_MAYBE_APPLIED,
    }
    check = invoke("status", "--ledger", old_ledger, "--check")
    assert check.exit_code == 2, check.output
    assert check.stdout.startswith("ROLLOVER CRITICAL - 2 failed, 1 needs_review, 21 pending")
    trail = invoke("status", "--ledger", old_ledger, "--row", "BIO-101-001-SP27")
    assert trail.exit_code == 0, trail.output
    assert "intent: HTTP 202 POST /v2/courses/{id}/copy" in trail.stdout  # an answer, migrated
    results = old_ledger.with_name("old.results.csv")
    report = invoke("report", "--ledger", old_ledger, "--results", results)
    assert report.exit_code == 0, report.output
    assert len(results.read_text(encoding="utf-8-sig").splitlines()) == 26
    assert file_state(old_ledger) == before
    assert schema_version(old_ledger) == "1"


def test_a_ledger_opened_to_read_refuses_to_write(old_ledger: Path) -> None:
    """A ledger opened read-only (here an old one, read from a copy in memory) refuses a write
    with a LedgerError instead of losing it."""
    with Ledger(old_ledger, read_only=True) as ledger:
        assert len(ledger.rows()) == 25
        with pytest.raises(LedgerError, match="opened to be read, not written"):
            ledger.record_quota(1, 2)
    assert schema_version(old_ledger) == "1"


def test_an_empty_ledger_file_is_read_as_empty_and_left_empty(tmp_path: Path) -> None:
    """A ledger file with nothing in it yet (a run that died before its first commit) reads as
    no rows, and stays an empty file."""
    empty = tmp_path / "spring.ledger.sqlite"
    empty.touch()
    status = invoke("status", "--ledger", empty)
    assert status.exit_code == 0, status.output
    assert status.stdout.startswith("0 rows")
    check = invoke("status", "--ledger", empty, "--check")
    assert check.stdout.startswith("ROLLOVER OK - no rows in the ledger")
    assert empty.read_bytes() == b""


# --- a folder or a file that cannot be written ------------------------------------------------


@contextlib.contextmanager
def read_only_mount(path: Path) -> Iterator[None]:
    """`path` (a folder or a file) bound read-only over itself: even root cannot write it."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to bind-mount a path read-only")
    bound = subprocess.run(["mount", "--bind", path, path], capture_output=True)
    if bound.returncode:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", path], capture_output=True)
        if remount.returncode:
            pytest.skip(f"cannot make a bind mount read-only: {remount.stderr.decode().strip()}")
        yield
    finally:
        subprocess.run(["umount", path], check=False)


@pytest.mark.parametrize("read_only", ["folder", "file"])
def test_a_ledger_that_cannot_be_written_is_read_not_called_damaged(
    tmp_path: Path, read_only: str
) -> None:
    """A ledger in a read-only folder, or a read-only ledger file, is read by status, status
    --check and report (results elsewhere) as it is, never reported as damaged."""
    folder = tmp_path / "kept"
    folder.mkdir()
    manifest = write(folder / "spring.csv", MANIFEST)
    assert sandbox_run(folder, manifest, "--quiet").exit_code == 0
    ledger = folder / "spring.sandbox.ledger.sqlite"
    before = file_state(ledger)
    elsewhere = tmp_path / "results.csv"
    with read_only_mount(folder if read_only == "folder" else ledger):
        check = invoke("status", "--ledger", ledger, "--check")
        assert check.exit_code == 0 and check.stdout.startswith(DONE_CHECK), check.output
        status = invoke("status", "--ledger", ledger)
        assert status.exit_code == 0, status.output
        assert status.stdout.startswith("2 rows: 2 done")
        report = invoke("report", "--ledger", ledger, "--results", elsewhere)
        assert report.exit_code == 0, report.output
    assert file_state(ledger) == before
    assert len(elsewhere.read_text(encoding="utf-8-sig").splitlines()) == 3


def test_an_old_ledger_in_a_read_only_folder_is_read(tmp_path: Path) -> None:
    """A schema-1 ledger in a folder nobody may write is read (migrated in memory only)."""
    folder = tmp_path / "archive"
    folder.mkdir()
    ledger = folder / "fall2026.ledger.sqlite"
    shutil.copy(SCHEMA_1, ledger)
    with read_only_mount(folder):
        status = invoke("status", "--ledger", ledger)
        assert status.exit_code == 0, status.output
        assert status.stdout.startswith(OLD_COUNTS)
    assert schema_version(ledger) == "1"
