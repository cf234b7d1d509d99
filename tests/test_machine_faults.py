"""When the machine itself fails: a disk that fills at any ledger write, a full disk for the
results or the log, a closed terminal."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from cli_runs import invoke, sandbox_run, write
from harness import Learn, make_learn, rollover_on, row

from rollover.engine import RunOptions, RunOutcome
from rollover.errors import LedgerUnwritable
from rollover.ledger import LedgerRow, State

OPTIONS = RunOptions(poll_min=1.0, poll_max=10.0, adopt_settle=0.0)
# New courses only: a copy into a shell whose Location write failed after its POST is, rightly,
# handed to a person (needs_review), which the fault-mix and crash tests already pin.
ROWS = [
    row(2, "BIO-101-FA26", "BIO-101-001-SP27", name="Biology 101"),
    row(3, "BIO-101-FA26", "BIO-101-002-SP27", name="Biology 101 section 2"),
    row(4, "CHEM-110-FA26", "CHEM-110-001-SP27", name="Chemistry 110"),
]


def run_once(
    learn: Learn, ledger_path: Path, full_at: int | None
) -> tuple[RunOutcome, list[LedgerRow], int]:
    """One engine run whose ledger's `full_at`-th write finds the disk full (None: never);
    (outcome, rows, writes attempted)."""
    writes = 0

    def write_or_fail() -> None:
        nonlocal writes
        writes += 1
        if full_at is not None and writes >= full_at:
            raise sqlite3.OperationalError("database or disk is full")

    async def go() -> tuple[RunOutcome, list[LedgerRow]]:
        async with rollover_on(learn, ROWS, ledger_path, OPTIONS) as (ledger, engine):
            ledger.before_write = write_or_fail
            outcome = await engine.run()
            ledger.before_write = None
            return outcome, ledger.rows()

    outcome, rows = asyncio.run(go())
    return outcome, rows, writes


def writes_in_a_clean_run(tmp_path: Path) -> int:
    """How many ledger writes a run of ROWS makes when nothing fails."""
    _, rows, writes = run_once(make_learn(copy_seconds=5.0), tmp_path / "clean.sqlite", None)
    assert {r.state for r in rows} == {State.DONE}, rows
    return writes


def test_a_disk_that_fills_at_any_ledger_write_stops_cleanly_and_the_rerun_copies_once(
    tmp_path: Path,
) -> None:
    """At every write point in turn the disk fills: the run stops with LedgerUnwritable (exit
    3: no traceback, no new copy after the failed write); once there is space, a re-run on the
    same ledger finishes every row with exactly one copy per target."""
    total = writes_in_a_clean_run(tmp_path)
    assert total > 10
    for full_at in range(1, total + 1):
        learn = make_learn(copy_seconds=5.0)
        ledger_path = tmp_path / f"full-at-{full_at}.sqlite"
        outcome, _, _ = run_once(learn, ledger_path, full_at)
        assert isinstance(outcome.fatal, LedgerUnwritable), (full_at, outcome)
        assert outcome.fatal.exit_code == 3
        copies_before = Counter(c.target_course_id for c in learn.sandbox.record.copies)
        outcome, rows, _ = run_once(learn, ledger_path, None)
        assert outcome.fatal is None, (full_at, outcome)
        assert {r.target_course_id: r.state for r in rows} == {
            r.target_course_id: State.DONE for r in ROWS
        }, full_at
        copies = Counter(c.target_course_id for c in learn.sandbox.record.copies)
        assert copies == {r.target_course_id: 1 for r in ROWS}, (full_at, copies_before, copies)


def test_a_results_file_on_a_full_disk_is_exit_3_and_says_how_to_get_it(
    tmp_path: Path,
) -> None:
    """Learn was changed, so a results file that cannot be written is never exit 2: the run
    says why and that `rollover report` writes it later, and exits 3."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with (small / "filler").open("wb", buffering=0) as filler:  # the rest of the disk
            try:
                while True:
                    filler.write(b"x" * 1024)
            except OSError:
                pass
        manifest = write(
            tmp_path / "spring.csv",
            "source_course_id,target_course_id\nBIO-101-FA26,BIO-101-001-SP27\n",
        )
        result = sandbox_run(tmp_path, manifest, "--results", small / "results.csv")
        assert result.exit_code == 3, result.output
        assert "Results: not written: the results file" in result.stdout
        assert "`rollover report` writes it from the ledger" in result.stdout
        assert "Traceback" not in result.output
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_rows_waiting_out_the_settle_say_so_until_when_and_the_run_exits_3(
    tmp_path: Path,
) -> None:
    """A copy adopted after its answer was lost waits --adopt-settle before its PATCH; when
    --task-timeout would end that wait, the run stops at once with exit 3, and both its summary
    and `status` say how many rows wait, why, and until when."""
    manifest = write(
        tmp_path / "spring.csv",
        "source_course_id,target_course_id,name\nBIO-101-FA26,BIO-101-001-SP27,Biology\n",
    )
    lossy = write(tmp_path / "lossy.toml", "copy_seconds = 0.05\ndrop_copy_response_rate = 1.0\n")
    result = invoke(
        "run",
        manifest,
        "--sandbox",
        "--sandbox-config",
        lossy,
        "--adopt-settle",
        "3600",
        "--task-timeout",
        "60",
    )
    assert result.exit_code == 3, result.output
    said = "Settling: 1 row wait for --adopt-settle until "
    assert said in result.stdout and "the copy's end cannot be seen" in result.stdout
    assert said in invoke("status", manifest, "--sandbox").stdout
