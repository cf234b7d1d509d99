"""A run on a terminal that closes: SIGHUP and a terminal that fails every write are a stop
(exit 3, resumable), never a bug report.

`rollover run --sandbox` runs on a real pseudo-terminal (so it draws its live line); the test
closes the terminal's master side, sends SIGHUP as the kernel does on a hang-up, and reads the
outcome from the exit code, the JSON log file and the ledger.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from processes import rows_past_pending
from test_e2e import clean_env, results_of, rollover_command, run_rollover, write_manifest

from rollover.sandbox import LearnSandbox

pytestmark = pytest.mark.e2e

ROWS = [("BIO-101-FA26", f"BIO-101-{n:03d}-SP27", False) for n in range(1, 4)]
OPTIONS = ("--poll-min", "0.2", "--poll-max", "0.5")


def read_until(master: int, wanted: bytes, process: subprocess.Popen[bytes]) -> bytes:
    """What the terminal showed until `wanted` appeared (failing after 30 s or if the run
    ended first)."""
    shown = b""
    deadline = time.monotonic() + 30
    while wanted not in shown:
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no {wanted!r} on the terminal: {shown[-2000:]!r}")
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            with contextlib.suppress(OSError):
                shown += os.read(master, 65536)
    return shown


def test_a_closed_terminal_ends_the_run_as_a_stop_not_a_bug(tmp_path: Path) -> None:
    """The live line on a pty, copies under way: the terminal closes and SIGHUP comes. The run
    exits 3 (no traceback: the log ends with run.end), every row is as the ledger last recorded
    it, and a re-run finishes with one copy per target."""
    manifest = write_manifest(tmp_path / "spring.csv", ROWS)
    config = tmp_path / "cfg.toml"
    config.write_text("copy_seconds = 4\nslots = 1\n", encoding="utf-8")
    log = tmp_path / "run.log"
    ledger = tmp_path / "spring.sandbox.ledger.sqlite"
    command = rollover_command(
        "run", manifest, "--sandbox", "--sandbox-config", config, "--log-file", log, *OPTIONS
    )
    master, terminal = pty.openpty()
    process = subprocess.Popen(
        command,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=tmp_path,
        env=clean_env(),
        start_new_session=True,
    )
    os.close(terminal)
    try:
        read_until(master, b"copying 1", process)  # the live line, a copy under way
        assert rows_past_pending(ledger) > 0
        os.close(master)
        process.send_signal(signal.SIGHUP)
        code = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert code == 3, events[-5:]
    assert (events[-1]["event"], events[-1]["exit_code"]) == ("run.end", 3)
    assert events[-1]["reason"] == "SIGHUP"
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as db:
        states = {state for (state,) in db.execute("SELECT state FROM rows")}
    assert states <= {"pending", "located", "done"}, states

    again = run_rollover("run", manifest, "--sandbox", *OPTIONS, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    statuses = [r["status"] for r in results_of(tmp_path / "spring.sandbox.results.csv")]
    assert statuses == ["done"] * len(ROWS)
    record = LearnSandbox.load(tmp_path / "spring.sandbox.json").record
    assert record.copies_per_target() == {target: 1 for _, target, _ in ROWS}
